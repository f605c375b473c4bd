"""Fixtures the sweep tests share."""

from __future__ import annotations

import pytest

from tests.support.ray_cluster import local_ray_cluster


@pytest.fixture
def joined_cluster():
    """This process's Ray cluster, which the `ganime` drivers the test starts join
    (RAY_ADDRESS), as drivers on a cluster's head node do."""
    with local_ray_cluster():
        yield
