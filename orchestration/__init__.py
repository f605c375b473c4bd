"""Everything around the core, in parts whose imports point one way:

    cli/              one module per `ganime` command: parse, call one function, print
    compare/          `ganime compare`: the spec, the driver, the per-method worker, the table
    sweep/            the sweep file, its plan, the Tune trainable and callbacks, the driver
    release/          promote (the gate), colorize, evaluate
    training/         where a run trains: this process (local) or Ray Train workers
    jobs/             what sweep and compare share: trial resources, run plans, storage
    tracking/         MLflow: the only code that imports mlflow
    data/             real data sets: the Kaggle download, unpacked and verified
    interrupts.py     SIGTERM handled as Ctrl-C, in drivers
    ray_internals.py  every touch of Ray's private API, checked against one Ray version

cli may import every part; compare: release, training, jobs, tracking, interrupts; sweep:
training, jobs, tracking, interrupts; release and training: tracking; compare, sweep and
training may use ray_internals; jobs, tracking, data, interrupts and ray_internals import no
other part. All build on ganime_core, which imports none of them. tests/test_layering.py enforces
this (its MAY_IMPORT is the rule) and docs/ARCHITECTURE.md explains it. No model math here.
TensorFlow is imported only where a model runs (a Ray Train worker, a trial actor, a local
run); the few lazy imports that keep it out of drivers say so where they are.
"""

from ganime_core import quiet_tensorflow

# Every process that runs GANime's orchestration code imports this package first: the CLI, and
# each Ray worker that unpickles a trial, a Train loop or a compare task. Its first `import
# tensorflow` then prints TensorFlow's C++ start-up lines at the user's TF_CPP_MIN_LOG_LEVEL,
# warnings and errors by default (ganime_core/quiet_tensorflow.py says why this is needed).
quiet_tensorflow.quiet_first_import()
