"""``python -m bench.network --smoke`` runs end to end and prints its figures (not judged)."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from bench.network import KEYS
from media.chromium import CHROMIUM
from tests.netfault import require_netfault


@pytest.mark.timeout(240)
async def test_network_smoke_prints_its_figures() -> None:
    require_netfault()
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason=reason)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.network", "--smoke",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 200)
    finally:
        if process.returncode is None:
            os.killpg(process.pid, 9)
            await process.wait()
    text = out.decode(errors="replace")
    assert process.returncode == 0, text[-4000:]
    assert "cut 1 (2 s): video again at the kiosk after" in text, text[-4000:]
    figures = json.loads(text.strip().splitlines()[-1])
    assert set(figures) == {*KEYS, "smoke"}
    assert figures["smoke"] is True and figures["same_session"] is True
    assert figures["impaired_fps_kiosk"] > 0 and figures["impaired_fps_clerk"] > 0
