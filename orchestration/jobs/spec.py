"""The sections a sweep file and a compare file share."""

from __future__ import annotations

from pydantic import Field

from ganime_core.config import Section


class TrialResources(Section):
    """What each run of a job asks of the cluster: Ray Train workers and their resources."""

    workers: int = Field(1, ge=1, description="Ray Train workers per trial (one replica each)")
    cpus_per_worker: int = Field(1, ge=1)
    gpus_per_worker: int = Field(
        0, ge=0, le=1, description="each worker is one replica on at most one GPU"
    )
    max_failures: int = Field(0, ge=0, description="worker failures a trial recovers from")
