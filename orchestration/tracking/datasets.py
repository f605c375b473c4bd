"""The data set a run trained on, as an MLflow run input: where it is, its content hash, and how
many images each split holds (the UI's dataset drawer shows the profile's keys)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.sources import LocalArtifactDatasetSource
from mlflow.entities import DatasetInput, InputTag

from orchestration.tracking.runs import RunLogger

DIGEST_CHARS = 36  # MLflow's limit on a dataset digest
CONTEXT_TAG = "mlflow.data.context"


class ImageFolderDataset(MetaDataset):
    """A folder of images, described by its counts rather than loaded: MLflow's MetaDataset
    with a profile."""

    def __init__(self, root: str, name: str, digest: str, profile: dict[str, Any]) -> None:
        self._profile = profile
        super().__init__(LocalArtifactDatasetSource(root), name=name, digest=digest)

    @property
    def profile(self) -> dict[str, Any]:
        return self._profile

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self._profile)}


def log_dataset_input(
    logger: RunLogger, root: Path, content_hash: str, counts: dict[str, int]
) -> None:
    """Log the folder `root` (its hash and images per split) as the run's training input."""
    profile = {"images": sum(counts.values()), **{f"{k}_images": v for k, v in counts.items()}}
    dataset = ImageFolderDataset(str(root), root.name, content_hash[:DIGEST_CHARS], profile)
    entity = DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag(CONTEXT_TAG, "training")])
    logger.retrying(
        "data set input", lambda: logger.client.log_inputs(logger.run_id, datasets=[entity])
    )
