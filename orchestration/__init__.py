"""Everything around the core, in packages whose imports point one way:

    cli/       one module per `ganime` command: parse, call one function, print
    release/   promote (the gate), colorize, evaluate
    sweep/     the sweep file, its plan, the Tune trainable and callbacks, the driver, the summary
    training/  where a run trains: this process (local) or Ray Train workers
    tracking/  MLflow: the only code that imports mlflow

cli -> release, sweep -> training -> tracking -> ganime_core. No model math here. TensorFlow is
imported only where a model runs (a Ray Train worker, a trial actor, a local run); the few lazy
imports that keep it out of drivers say so where they are.
"""
