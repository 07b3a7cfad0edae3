"""Clusters of real server processes: skipped when a service is missing, failed under CI."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.scale.cluster import Cluster, missing_services


def require_cluster_services(**shape: object) -> None:
    """Skip when PostgreSQL, Redis or HAProxy is missing; fail instead under ``CI=true``."""
    missing = missing_services(**shape)  # type: ignore[arg-type]
    if not missing:
        return
    reason = "missing: " + "; ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason=reason)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Two `vcounter serve` processes on PostgreSQL + Redis behind HAProxy."""
    require_cluster_services()
    async with Cluster(tmp_path / "cluster", processes=2) as running:
        yield running
