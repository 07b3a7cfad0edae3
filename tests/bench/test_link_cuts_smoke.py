"""``python -m bench.link_cuts --smoke`` runs end to end and prints its figures (not judged)."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from bench.link_cuts import KEYS
from tests.netfault import require_netfault


@pytest.mark.timeout(180)
async def test_link_cuts_smoke_prints_its_figures() -> None:
    require_netfault()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.link_cuts", "--smoke",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 150)
    text = out.decode()
    assert process.returncode == 0, text
    assert "cut 1 s: frames again here after" in text, text
    figures = json.loads(text.strip().splitlines()[-1])
    assert set(figures) == {*KEYS, "smoke"}
    assert figures["smoke"] is True and figures["stock"] is False
