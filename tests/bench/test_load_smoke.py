"""``python -m bench.load --smoke`` runs end to end and prints its figures.

Only that it runs and reports is checked here, not the targets: the figures are the
benchmark's to print (README, "Running several processes").
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from bench.load import KEYS
from tests.scale.conftest import require_cluster_services


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_load_smoke_prints_every_figure() -> None:
    require_cluster_services()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.load", "--smoke",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 540)
    text = out.decode()
    assert process.returncode == 0, text
    lines = text.strip().splitlines()
    for heading in ("== 1 process, SQLite", "== 2 processes, PostgreSQL + Redis + HAProxy"):
        assert any(line.startswith(heading) for line in lines), text
    assert "RuntimeWarning" not in text, text
    final = json.loads(lines[-1])
    assert set(KEYS) <= set(final), text
    # the smoke run did make requests and calls, whatever the router does with them
    assert any("calls connected" in line and "requests 0 " not in line for line in lines), text
    for figure in ("answer relay p50", "next call_offered p50", "socket event handling p99"):
        assert any(figure in line for line in lines), f"{figure!r} missing:\n{text}"
