"""Reading back what a run recorded in MLflow."""

from __future__ import annotations


def sample_steps(client, run_id: str) -> list[int]:
    """The epochs of a run's sample grids, logged as MLflow images with key `samples`."""
    names = [a.path.rpartition("/")[2] for a in client.list_artifacts(run_id, "images")]
    return sorted(int(n.split("+")[2]) for n in names if n.startswith("samples+") and ".png" in n)
