"""Hyperparameter sweeps: Ray Tune + Optuna (TPE) + ASHA over any config key, tracked in MLflow.

spec.py       the sweep file: validated before anything starts (no Ray, no TensorFlow)
plan.py       what a trial asks of the cluster, and how many run at once
storage.py    where a sweep's Tune state lives, so `--resume NAME` finds it
trainable.py  one trial: in its Tune actor (1 worker) or as a Ray Train run (more)
callbacks.py  what the driver does as trials start and end: MLflow outcomes, the live table
driver.py     run_sweep: the Tuner, its searcher and scheduler, interrupts
summary.py    the trial table, the best trial, the plot and the lines the terminal shows
"""
