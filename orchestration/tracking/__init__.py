"""MLflow, and only here: runs and their store (runs.py), a training run's sink (sink.py), the
data set input (datasets.py), the generator model (model.py), sweeps' runs (sweeps.py), the
Model Registry (registry.py), `ganime evaluate`'s runs (evaluations.py) and every tag key
(tags.py)."""
