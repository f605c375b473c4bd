"""The MLflow model of a colorizer: uint8 sketches (and references) in, uint8 colour images out.

Logged by training (best and final generator) and by `ganime evaluate EXPERIMENT.yaml` (a method
that trains nothing: NST, Fast NST), registered by promotion, loaded by `ganime evaluate
--model` and `ganime colorize`, served by `mlflow models serve`. It carries what the method runs
on (the Keras generator, VGG19's weights for NST and Style2paints, or Fast NST's SavedModel) and
the experiment config, plus this package's code, so loading it needs only the pinned TensorFlow
stack.

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
import yaml
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from mlflow.types.schema import AnyType

from ganime_core.config import GeneratorMode, parse_config
from ganime_core.errors import GanimeError
from ganime_core.families import build_colorizer

GENERATOR_FILE = "generator.keras"
MODEL_CONFIG_FILE = "config.yaml"
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
REFERENCE_COLUMN = "reference"  # a reference colour image per sketch (NST, Style2paints, ...)


def image_signature() -> ModelSignature:
    """An `image` column in and out, and an optional `reference` column in. A cell in is an
    image: a uint8 (h, w, 3) array (or nested lists, as JSON carries it), PNG/JPEG bytes, a
    `data:image/...;base64,` URI or a file path. A cell out is the colour image, uint8 (h, w, 3)
    at the sketch's own size. Cells differ in type and shape, which only MLflow's `any` column
    type admits."""
    inputs = Schema(
        [ColSpec(AnyType(), IMAGE_COLUMN), ColSpec(AnyType(), REFERENCE_COLUMN, required=False)]
    )
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec(AnyType(), IMAGE_COLUMN)]))


def sketch_frame(images: Any, references: Any = None) -> pd.DataFrame:
    """The model's input for uint8 images: a batch (n, h, w, 3) or a list of (h, w, 3), with
    a reference per sketch for a method that uses one."""
    frame = {IMAGE_COLUMN: list(images)}
    if references is not None:
        frame[REFERENCE_COLUMN] = list(references)
    return pd.DataFrame(frame)


def decode_cell(cell: Any) -> np.ndarray:
    """A cell of the `image` column as a uint8 (h, w, 3) array (see image_signature)."""
    from ganime_core.inference import read_image

    if isinstance(cell, str) and cell.startswith("data:"):
        header, _, payload = cell.partition(",")
        if not header.endswith(";base64"):
            raise ValueError("a data: URI must be base64-encoded")
        cell = base64.b64decode(payload)
    return read_image(cell)


class ColorizerModel(mlflow.pyfunc.PythonModel):
    """The pyfunc model GANime logs: colorizes sketches of any size (ganime_core.inference) with
    the logged method (a ganime_core Colorizer): resized to the size it runs at, colorized,
    restored to each input's size."""

    def load_context(self, context: Any) -> None:
        raw = yaml.safe_load(Path(context.artifacts["config"]).read_text())
        self.config = parse_config(raw, source="model config")
        self.colorizer = method_colorizer(self.config, context.artifacts)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        from ganime_core.inference import colorize_images

        sketches = decode_column(model_input, IMAGE_COLUMN)
        references = None
        if REFERENCE_COLUMN in model_input and model_input[REFERENCE_COLUMN].notna().all():
            references = decode_column(model_input, REFERENCE_COLUMN)
        colour = colorize_images(
            self.colorizer,
            sketches,
            self.config.data.image_size,
            batch_size=self.config.model.colorize_batch_size or self.config.metrics.batch_size,
            references=references,
        )
        return pd.DataFrame({IMAGE_COLUMN: colour})


def __getattr__(name: str) -> Any:
    """Models logged before the pyfunc class was named ColorizerModel pickled it as
    `Colorizer`: they unpickle into it (pickle looks the name up on this module)."""
    if name == "Colorizer":
        return ColorizerModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def decode_column(frame: pd.DataFrame, column: str) -> list[np.ndarray]:
    """Every cell of `column` as a uint8 (h, w, 3) array; a bad cell fails with its row."""
    images = []
    for row, cell in enumerate(frame[column]):
        try:
            images.append(decode_cell(cell))
        except ValueError as exc:  # UnreadableImageError, or a bad data: URI
            raise ValueError(f"row {row} of column {column!r}: {exc}") from None
    return images


def method_colorizer(config: Any, artifacts: dict[str, str]) -> Any:
    """The ganime_core colorizer a logged model runs: its Keras generator (with a reference:
    Style2paints', its hint encoder rebuilt from the config on the file logged beside it:
    VGG19's weights or the data set's palettes.json), or a method that trains nothing (NST,
    Fast NST) built by the registry on the weights logged with it. No file logged: the seeded
    stand-in VGG19, which the model's config allowed, or a hint that reads none
    (colour_thumbnail)."""
    from ganime_core.colorizers import GeneratorColorizer, HintedGeneratorColorizer

    weights = Path(artifacts["weights"]) if "weights" in artifacts else None
    if not config.model.trainable:
        return build_colorizer(config, weights, stand_in=weights is None)
    import keras

    import ganime_core.networks  # noqa: F401  registers InstanceNormalization

    generator = keras.models.load_model(artifacts["generator"], compile=False)
    family = config.model.family
    if not config.model.needs_reference:  # the sketch alone
        return GeneratorColorizer(family, generator)
    from ganime_core.hints import hint_encoder, standin

    encoder = hint_encoder(config.model, weights)
    return HintedGeneratorColorizer(
        family, generator, encoder, pretrained=not standin(config.model, weights)
    )


def load_colorizer(uri: str, what: str = "model") -> Any:
    """The pyfunc model at `uri` (runs:/, models:/NAME@ALIAS, a folder); one-line GanimeError if
    it cannot be loaded."""
    try:
        return mlflow.pyfunc.load_model(uri)
    except Exception as exc:  # MlflowException, OSError, ...: all mean "not loadable"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanimeError(f"{what} {uri}: cannot load it ({first_line})") from None


def pyfunc_colorizer(model: Any) -> Any:
    """A loaded model as a ganime_core Colorizer (float [-1, 1] batches in and out), for
    evaluation: sketches and references go through its pyfunc `predict`, as a user's would."""
    from ganime_core.colorizers import Colorizer
    from ganime_core.data.pipeline import to_float, to_uint8

    inner = model.unwrap_python_model().colorizer

    class ThroughPredict(Colorizer):
        def colorize(self, sketch: Any, reference: Any) -> Any:
            references = None if reference is None else to_uint8(reference).numpy()
            frame = sketch_frame(to_uint8(sketch).numpy(), references)
            return to_float(np.stack(model.predict(frame)[IMAGE_COLUMN]))

        def measuring(self, generator_mode: GeneratorMode) -> Any:
            return inner.measuring(generator_mode)  # `predict` runs `inner`: switch it

    return ThroughPredict(inner.method, inner.needs_reference, inner.pretrained)


def log_generator_model(
    client: Any,
    run_id: str,
    generator: Any,
    config: Any,
    name: str,
    example: tuple[np.ndarray, np.ndarray | None],
    step: int = 0,
    files: dict[str, Path] | None = None,
) -> Any:
    """Log `generator` (a keras.Model) as an MLflow model named `name` in run `run_id`, with
    `files` beside it (Style2paints: its VGG19 weights, by artifact name), one uint8 (h, w, 3)
    sketch and its reference (None for a method without) as its input example, and `step`
    (the epoch) as its step."""
    sketch, reference = example
    frame = sketch_frame([sketch], None if reference is None else [reference])
    with tempfile.TemporaryDirectory(prefix="ganime-model-") as folder:
        generator_path = Path(folder) / GENERATOR_FILE
        generator.save(generator_path)
        artifacts = {"generator": str(generator_path)}
        artifacts.update({key: str(path) for key, path in (files or {}).items()})
        return _log_model(client, run_id, config, name, artifacts, frame, step)


def log_method_model(
    client: Any,
    run_id: str,
    config: Any,
    weights: Path | None,
    name: str,
    example: tuple[np.ndarray, np.ndarray],
) -> Any:
    """Log a method that trains nothing (NST: `weights` its VGG19 file, None for the seeded
    stand-in; Fast NST: its SavedModel folder) as an MLflow model, with one uint8 (sketch,
    reference) pair as its input example."""
    artifacts = {"weights": str(weights)} if weights is not None else {}
    frame = sketch_frame([example[0]], [example[1]])
    return _log_model(client, run_id, config, name, artifacts, frame, step=0)


def _log_model(
    client: Any,
    run_id: str,
    config: Any,
    name: str,
    artifacts: dict[str, str],
    input_example: pd.DataFrame,
    step: int,
) -> Any:
    from ganime_core.checkpoint import config_yaml

    with tempfile.TemporaryDirectory(prefix="ganime-model-") as folder:
        config_path = Path(folder) / MODEL_CONFIG_FILE
        config_path.write_text(config_yaml(config))
        mlflow.set_tracking_uri(client.tracking_uri)
        # pyfunc.log_model logs into the active fluent run only. Leaving that run would mark it
        # FINISHED while the job goes on: it is set RUNNING again (the runner ends it).
        with mlflow.start_run(run_id=run_id):
            logged = mlflow.pyfunc.log_model(
                name=name,
                python_model=ColorizerModel(),
                artifacts={**artifacts, "config": str(config_path)},
                code_paths=[str(path) for path in PACKAGE_DIRS],
                signature=image_signature(),
                input_example=input_example,
                pip_requirements=[
                    f"{package}=={importlib.metadata.version(package)}" for package in REQUIREMENTS
                ],
                step=step,
            )
        client.update_run(run_id, status="RUNNING")
        return logged
