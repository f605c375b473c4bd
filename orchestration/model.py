"""The MLflow model of a trained generator: uint8 sketches in, uint8 colour images out.

Logged by training (best and final generator), registered by promotion, loaded by `ganime
evaluate --model` and `ganime colorize`, served by `mlflow models serve`. It carries the Keras
generator and the experiment config it was trained under, plus this package's code, so loading
it needs only the pinned TensorFlow stack.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec

GENERATOR_FILE = "generator.keras"
CONFIG_FILE = "config.yaml"
# What loading the model imports, pinned to the versions it was logged with.
REQUIREMENTS = ("tensorflow", "keras", "numpy", "scipy", "pydantic", "pyyaml", "pillow", "tqdm")
PACKAGE_DIRS = [
    Path(__file__).resolve().parent.parent / name for name in ("ganime_core", "orchestration")
]


def image_signature() -> ModelSignature:
    """uint8 (n, h, w, 3) in and out, any n, h, w."""
    images = Schema([TensorSpec(np.dtype(np.uint8), (-1, -1, -1, 3))])
    return ModelSignature(inputs=images, outputs=images)


class Colorizer(mlflow.pyfunc.PythonModel):
    """Colorizes uint8 sketches of any size: resized (nearest, as in training) to the model's
    image size, generated in inference mode, resized back (bilinear) to the input's size."""

    def load_context(self, context: Any) -> None:
        import keras
        import yaml

        import ganime_core.networks  # noqa: F401  registers InstanceNormalization
        from ganime_core.config import parse_config

        raw = yaml.safe_load(Path(context.artifacts["config"]).read_text())
        self.config = parse_config(raw, source="model config")
        self.generator = keras.models.load_model(context.artifacts["generator"], compile=False)

    def predict(
        self, context: Any, model_input: np.ndarray, params: dict | None = None
    ) -> np.ndarray:
        import tensorflow as tf

        from ganime_core.data.pipeline import to_float, to_uint8

        sketches = tf.convert_to_tensor(np.asarray(model_input, np.uint8))
        height, width = sketches.shape[1:3]
        size = self.config.data.image_size
        if (height, width) != (size, size):
            sketches = tf.cast(tf.image.resize(sketches, [size, size], method="nearest"), tf.uint8)
        colour = self.generator(to_float(sketches), training=False)
        if (height, width) != (size, size):
            colour = tf.image.resize(colour, [height, width], method="bilinear")
        return to_uint8(colour).numpy()


def log_generator_model(generator: Any, config: Any, name: str, input_example: np.ndarray) -> Any:
    """Log `generator` (a keras.Model) as an MLflow model named `name` in the active run."""
    from ganime_core.checkpoint import config_yaml

    with tempfile.TemporaryDirectory(prefix="ganime-model-") as folder:
        generator_path = Path(folder) / GENERATOR_FILE
        generator.save(generator_path)
        config_path = Path(folder) / CONFIG_FILE
        config_path.write_text(config_yaml(config))
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=Colorizer(),
            artifacts={"generator": str(generator_path), "config": str(config_path)},
            code_paths=[str(path) for path in PACKAGE_DIRS],
            signature=image_signature(),
            input_example=input_example,
            pip_requirements=[
                f"{package}=={importlib.metadata.version(package)}" for package in REQUIREMENTS
            ],
        )
