"""The abuse benchmark runs end to end (3 attackers for 3 s) and reports its figures.

No timing is asserted here (the machine is shared); the figures are ``python -m bench.abuse``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("login_p95_ms", "call_setup_p95_ms", "login_p95_ms_attack", "call_setup_p95_ms_attack")


@pytest.mark.timeout(300)
async def test_abuse_smoke_reports_quiet_and_attack_figures() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.abuse", "--smoke",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 280)
    assert process.returncode == 0, err.decode()[-2000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    for key in KEYS:
        assert isinstance(result[key], float) and result[key] > 0, (key, result)
    assert result["attackers"] == 3 and result["attack_requests"] > 0
    assert result["n_quiet"] >= 3 and result["n_attack"] >= 3
