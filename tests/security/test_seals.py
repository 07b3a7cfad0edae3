"""Hole 10: with real seals configured, the development CA is neither made nor trusted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from signaling.cli import main
from signaling.paperwork.errors import KeyMaterialError
from signaling.paperwork.seal_keys import SealFiles, init_keys, keys_dir, seal_for, trust_roots
from tests.conftest import make_settings, start_server


def _real_seal(tmp_path: Path) -> SealFiles:
    elsewhere = tmp_path / "real-ca"
    init_keys(elsewhere, ["taxation"])  # stands in for a seal issued outside vcounter
    return SealFiles(
        key=keys_dir(elsewhere) / "departments" / "taxation-key.pem",
        cert=keys_dir(elsewhere) / "departments" / "taxation.pem",
        chain=[keys_dir(elsewhere) / "ca.pem"],
    )


async def test_no_development_ca_beside_real_seals(tmp_path: Path) -> None:
    real = _real_seal(tmp_path)
    settings = make_settings(tmp_path, seals={"taxation": real})
    running, runner = await start_server(settings)
    try:
        dev_ca = keys_dir(settings.data_dir) / "ca.pem"
        assert not dev_ca.exists()  # the server did not make one at start
        # one left over from development is not trusted either
        init_keys(settings.data_dir, ["market-regulation"])
        assert dev_ca.exists()
        roots = trust_roots(settings.data_dir, settings.seals)
        assert dev_ca.read_bytes() not in roots and real.chain[-1].read_bytes() in roots
        # and a department without a real seal does not fall back to the development one
        with pytest.raises(KeyMaterialError, match=r"seals\.market-regulation"):
            seal_for(settings.data_dir, "market-regulation", settings.seals)
        assert seal_for(settings.data_dir, "taxation", settings.seals).key == real.key
    finally:
        await runner.cleanup()
    assert running.url


async def test_keys_init_is_refused_when_real_seals_are_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _real_seal(tmp_path)
    config = tmp_path / "vcounter.toml"
    # --config sets VCOUNTER_CONFIG for the process: restored after the test
    monkeypatch.setenv("VCOUNTER_CONFIG", str(config))
    config.write_text(
        f'[seals.taxation]\nkey = "{real.key}"\ncert = "{real.cert}"\nchain = ["{real.chain[0]}"]\n'
    )
    args = ["--config", str(config), "--data-dir", str(tmp_path / "data"), "keys", "init"]
    result = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert result.exit_code != 0 and "development CA is not made" in result.output
    assert not (keys_dir(tmp_path / "data") / "ca.pem").exists()
