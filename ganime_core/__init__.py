"""Models, losses, data pipeline, metrics and the train loop of GANime.

TensorFlow/Keras and NumPy/SciPy only: this package never imports ray, mlflow or optuna, so it runs
and is tested on its own. Modules that need TensorFlow import it at module level; `config`, `errors`
and `data.synth` do not, so a driver can validate an experiment without paying for TensorFlow.
"""
