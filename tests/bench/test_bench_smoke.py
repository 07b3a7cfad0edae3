"""Every benchmark still runs: ``python -m bench.<name> --smoke`` ends well and its last line
is a JSON object with every key the module documents in ``KEYS``.

Benchmarks are found by listing ``bench/``: a new one is covered as soon as it is added (and
fails here until it has ``KEYS`` and ``--smoke``, see ``bench/cli.py``). The figures of a smoke
run mean nothing; this checks that the code still works, the README's commands still run.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import bench

ROOT = Path(__file__).resolve().parents[2]
# the modules in bench/ that are not benchmarks themselves
HELPERS = {"__init__", "cli", "server", "load_clients"}
# benchmarks whose smoke run has a test of its own that checks more (tests/bench/test_*_smoke.py)
OWN_SMOKE_TEST = {"abuse", "load", "link_cuts", "network"}
BENCHMARKS = sorted(
    p.stem
    for p in Path(bench.__file__).parent.glob("*.py")
    if p.stem not in HELPERS | OWN_SMOKE_TEST
)
# a smoke run takes seconds (the full flow about 30 s); this is for a loaded 2-core machine
SMOKE_TIMEOUT_S = 240


def run_smoke(name: str) -> subprocess.CompletedProcess[str]:
    """``python -m bench.<name> --smoke`` in its own process group, killed whole on timeout
    (a benchmark starts a server and Chromium of its own)."""
    process = subprocess.Popen(
        [sys.executable, "-m", f"bench.{name}", "--smoke"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=SMOKE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(
            f"bench.{name} --smoke did not finish within {SMOKE_TIMEOUT_S} s;"
            f" its output:\n{stdout[-2000:]}\n{stderr[-4000:]}"
        )
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_every_benchmark_is_found() -> None:
    assert {
        "call_setup",
        "documents",
        "full_flow",
        "identity",
        "kiosk_display",
        "monitor",
        "payment",
        "recording",
    } <= set(BENCHMARKS)


@pytest.mark.slow
@pytest.mark.timeout(SMOKE_TIMEOUT_S + 30)
@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_smoke_run_prints_every_documented_key(name: str) -> None:
    keys = getattr(importlib.import_module(f"bench.{name}"), "KEYS", None)
    assert keys, f"bench/{name}.py has no KEYS: list its JSON line's keys (see bench/cli.py)"
    run = run_smoke(name)
    assert run.returncode == 0, (
        f"bench.{name} --smoke exited {run.returncode}:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    )
    last = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    out = json.loads(last)
    assert isinstance(out, dict), last
    assert [key for key in keys if key not in out] == [], (name, sorted(out))
    assert out["smoke"] is True
