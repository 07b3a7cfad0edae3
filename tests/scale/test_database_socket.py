"""A process on PostgreSQL's own machine reaches it through its Unix socket (README "Running
several processes"): the URL form the README gives works, and the connections are local."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest

from tests import dbutil
from tests.scale.cluster import Cluster
from tests.scale.conftest import require_cluster_services


async def test_a_server_reaches_postgresql_through_its_unix_socket(tmp_path: Path) -> None:
    require_cluster_services(redis=False, proxy=False)
    directory = dbutil.local_pg_socket()
    if directory is None:
        reason = "PostgreSQL's Unix socket is not on this machine"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (required under CI=true)")
        pytest.skip(reason=reason)
    async with Cluster(
        tmp_path / "cluster", processes=1, redis=False, proxy=False, database_socket=directory
    ) as cluster:
        assert "host=" in cluster.env["VCOUNTER_DATABASE_URL"]
        assert "127.0.0.1" not in cluster.env["VCOUNTER_DATABASE_URL"]
        assert cluster.database_url is not None
        name = cluster.database_url.rsplit("/", 1)[1]
        token = cluster.cli("terminal", "register", "kiosk-socket")
        assert token
        conn = await asyncpg.connect(dbutil._asyncpg_dsn(dbutil._base_url()))
        try:
            # the server's own connections (not this test's, nor the CLI's, now closed)
            addresses = [
                r["client_addr"]
                for r in await conn.fetch(
                    "SELECT client_addr FROM pg_stat_activity WHERE datname = $1", name
                )
            ]
        finally:
            await conn.close()
        assert addresses, "the server holds no connection to its database"
        # a Unix-socket connection has no client address
        assert all(a is None for a in addresses), addresses
