"""The MLflow model of a trained generator: uint8 sketches in, uint8 colour images out.

Logged by training (best and final generator), registered by promotion, loaded by `ganime
evaluate --model` and `ganime colorize`, served by `mlflow models serve`. It carries the Keras
generator and the experiment config it was trained under, plus this package's code, so loading
it needs only the pinned TensorFlow stack.

GANime's TensorFlow modules are imported inside the functions that run the model: the registry's
bookkeeping (`ganime promote --rollback`) imports this module and never runs one.
"""

from __future__ import annotations

import base64
import importlib.metadata
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from mlflow.types.schema import AnyType

GENERATOR_FILE = "generator.keras"
CONFIG_FILE = "config.yaml"
# What loading the model imports, pinned to the versions it was logged with.
REQUIREMENTS = (
    "tensorflow",
    "keras",
    "numpy",
    "pandas",
    "scipy",
    "pydantic",
    "pyyaml",
    "pillow",
    "tqdm",
)
PACKAGE_DIRS = [
    Path(__file__).resolve().parents[2] / name for name in ("ganime_core", "orchestration")
]


IMAGE_COLUMN = "image"


def image_signature() -> ModelSignature:
    """One `image` column in and out. A cell in is a sketch: a uint8 (h, w, 3) array (or nested
    lists, as JSON carries it), PNG/JPEG bytes, a `data:image/...;base64,` URI or a file path. A
    cell out is the colour image, uint8 (h, w, 3) at the sketch's own size. Cells differ in
    type and shape, which only MLflow's `any` column type admits."""
    images = Schema([ColSpec(AnyType(), IMAGE_COLUMN)])
    return ModelSignature(inputs=images, outputs=images)


def sketch_frame(images: Any) -> pd.DataFrame:
    """The model's input for uint8 images: a batch (n, h, w, 3) or a list of (h, w, 3)."""
    return pd.DataFrame({IMAGE_COLUMN: list(images)})


def decode_cell(cell: Any) -> np.ndarray:
    """A cell of the `image` column as a uint8 (h, w, 3) array (see image_signature)."""
    from ganime_core.inference import read_image

    if isinstance(cell, str) and cell.startswith("data:"):
        header, _, payload = cell.partition(",")
        if not header.endswith(";base64"):
            raise ValueError("a data: URI must be base64-encoded")
        cell = base64.b64decode(payload)
    return read_image(cell)


class Colorizer(mlflow.pyfunc.PythonModel):
    """Colorizes sketches of any size (ganime_core.inference): resized to the size the
    generator was trained at, generated in inference mode, restored to each input's size."""

    def load_context(self, context: Any) -> None:
        import keras
        import yaml

        import ganime_core.networks  # noqa: F401  registers InstanceNormalization
        from ganime_core.config import parse_config

        raw = yaml.safe_load(Path(context.artifacts["config"]).read_text())
        self.config = parse_config(raw, source="model config")
        self.generator = keras.models.load_model(context.artifacts["generator"], compile=False)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        from ganime_core.inference import colorize_images

        sketches = []
        for row, cell in enumerate(model_input[IMAGE_COLUMN]):
            try:
                sketches.append(decode_cell(cell))
            except ValueError as exc:  # UnreadableImageError, or a bad data: URI
                raise ValueError(f"row {row} of column {IMAGE_COLUMN!r}: {exc}") from None
        colour = colorize_images(
            lambda sketch: self.generator(sketch, training=False),
            sketches,
            self.config.data.image_size,
            batch_size=self.config.metrics.batch_size,
        )
        return pd.DataFrame({IMAGE_COLUMN: colour})


def load_colorizer(uri: str, what: str = "model") -> Any:
    """The pyfunc model at `uri` (runs:/, models:/NAME@ALIAS, a folder); one-line GanimeError if
    it cannot be loaded."""
    from ganime_core.errors import GanimeError

    try:
        return mlflow.pyfunc.load_model(uri)
    except Exception as exc:  # MlflowException, OSError, ...: all mean "not loadable"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanimeError(f"{what} {uri}: cannot load it ({first_line})") from None


def pyfunc_generate(model: Any) -> Any:
    """A loaded Colorizer as a `Generate` (float [-1, 1] batches in and out), for evaluation."""
    from ganime_core.data.pipeline import to_float, to_uint8

    def generate(sketch: Any) -> Any:
        colour = model.predict(sketch_frame(to_uint8(sketch).numpy()))[IMAGE_COLUMN]
        return to_float(np.stack(colour))

    return generate


def log_generator_model(
    client: Any,
    run_id: str,
    generator: Any,
    config: Any,
    name: str,
    example: np.ndarray,
    step: int = 0,
) -> Any:
    """Log `generator` (a keras.Model) as an MLflow model named `name` in run `run_id`, with one
    uint8 (h, w, 3) sketch as its input example and `step` (the epoch) as its step."""
    from ganime_core.checkpoint import config_yaml

    with tempfile.TemporaryDirectory(prefix="ganime-model-") as folder:
        generator_path = Path(folder) / GENERATOR_FILE
        generator.save(generator_path)
        config_path = Path(folder) / CONFIG_FILE
        config_path.write_text(config_yaml(config))
        mlflow.set_tracking_uri(client.tracking_uri)
        # pyfunc.log_model logs into the active fluent run only. Leaving that run would mark it
        # FINISHED while the job goes on: it is set RUNNING again (the runner ends it).
        with mlflow.start_run(run_id=run_id):
            logged = mlflow.pyfunc.log_model(
                name=name,
                python_model=Colorizer(),
                artifacts={"generator": str(generator_path), "config": str(config_path)},
                code_paths=[str(path) for path in PACKAGE_DIRS],
                signature=image_signature(),
                input_example=sketch_frame([example]),
                pip_requirements=[
                    f"{package}=={importlib.metadata.version(package)}" for package in REQUIREMENTS
                ],
                step=step,
            )
        client.update_run(run_id, status="RUNNING")
        return logged
