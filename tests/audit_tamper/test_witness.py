"""The witness: checkpoints kept outside the database, by a directory or a witness service."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from signaling.checkpointer import sign_checkpoint
from storage.audit import AuditLog
from storage.witness import DirectoryWitness, HttpWitness, WitnessError
from tests.audit_tamper.conftest import Site


@pytest.fixture
async def witness_service() -> AsyncIterator[str]:
    """A minimal witness service: POST keeps a record once per seq, GET lists them."""
    kept: dict[int, dict[str, Any]] = {}

    async def post(request: web.Request) -> web.Response:
        record = await request.json()
        seq = int(record["seq"])
        if seq in kept and kept[seq]["hash"] != record["hash"]:
            return web.Response(status=409, text=f"checkpoint {seq} is already kept")
        kept[seq] = record
        return web.Response(status=201)

    async def get(_request: web.Request) -> web.Response:
        return web.json_response([kept[s] for s in sorted(kept)])

    app = web.Application()
    app.router.add_post("/checkpoints", post)
    app.router.add_get("/checkpoints", get)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/checkpoints"
    finally:
        await runner.cleanup()


async def test_a_witness_service_names_checkpoints_deleted_from_the_store(
    site: Site, witness_service: str
) -> None:
    settings = site.settings.model_copy(update={"audit_witness": witness_service})
    # the server now publishes to the service; seq 3 onwards land there
    await AuditLog(site.db).append(site.sessions[1], "step", "server", {"n": 9})
    made = await sign_checkpoint(site.db, settings)
    assert made is not None and made.seq == 3
    assert [r["seq"] for r in await HttpWitness(witness_service).records()] == [3]
    site.attacker.unguard()
    site.attacker.sql("DELETE FROM chain_checkpoints WHERE seq = 3")
    result = await site.cli(
        "audit", "verify", "--all", "--fingerprint", site.fingerprint, "--witness", witness_service
    )
    assert result.exit_code == 1
    assert "checkpoint 3: the witness holds it but the store does not" in result.output


async def test_a_witness_directory_never_replaces_a_kept_checkpoint(tmp_path: Path) -> None:
    witness = DirectoryWitness(tmp_path / "w")
    record = {"seq": 1, "hash": "a" * 64}
    await witness.publish(record)
    await witness.publish(record)  # the same one again: nothing to do
    with pytest.raises(WitnessError, match="already holds a different checkpoint 1"):
        await witness.publish({"seq": 1, "hash": "b" * 64})
    assert json.loads((tmp_path / "w" / "0000000001.json").read_text())["hash"] == "a" * 64
    assert await witness.records() == [record]
