"""Sealed documents against a rewritten chain, and seals time-stamped by a TSA (PAdES B-T/B-LT)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pyhanko.pdf_utils.reader import PdfFileReader

from signaling.checkpointer import sign_checkpoint
from signaling.cli import main
from signaling.paperwork import claims
from signaling.paperwork.seal import check_seals
from signaling.paperwork.seal_keys import trust_roots
from storage.checkpoint_keys import fingerprint, load_or_create_key
from tests.audit_tamper.attacker import Attacker
from tests.conftest import RunningServer, make_settings, start_server
from tests.sign.conftest import append_stand_in_identity, open_counter, sign
from tests.tsa import LocalTsa, local_tsa


@pytest.fixture
async def tsa(tmp_path: Path) -> AsyncIterator[LocalTsa]:
    async with local_tsa(tmp_path / "tsa") as running:
        yield running


@pytest.fixture
async def stamped_server(tmp_path: Path, tsa: LocalTsa) -> AsyncIterator[RunningServer]:
    """The real server with a TSA configured: seals and checkpoints are time-stamped."""
    settings = make_settings(
        tmp_path, checkpoint_key_file=tmp_path / "operator" / "audit.pem",
        tsa_url=tsa.url, tsa_roots=[tsa.cert_path],
    )  # fmt: skip
    running, runner = await start_server(settings)
    try:
        yield running
    finally:
        await runner.cleanup()


async def decided_result(server: RunningServer, tmp_path: Path) -> tuple[str, Path]:
    """A signed application, approved; returns the session id and the result PDF's path."""
    counter = await open_counter(server)
    await append_stand_in_identity(server, counter.session_id)
    await sign(counter)
    path = f"/api/sessions/{counter.session_id}/decision"
    status, view = await counter.as_clerk("POST", path, {"outcome": "approved", "reason": "ok"})
    assert status == 200, view
    result = next(d for d in view["documents"] if d["kind"] == "result")
    status, pdf = await counter.as_clerk("GET", result["url"].removeprefix(server.url))
    assert status == 200
    target = tmp_path / "result.pdf"
    target.write_bytes(pdf)
    return counter.session_id, target


async def auditor_verify(server: RunningServer, tsa: LocalTsa, pdf: Path) -> Result:
    pin = fingerprint(load_or_create_key(server.settings.checkpoint_key_path))
    argv = [
        "--data-dir", str(server.settings.data_dir), "verify", str(pdf),
        "--fingerprint", pin, "--tsa-root", str(tsa.cert_path),
    ]  # fmt: skip
    return await asyncio.to_thread(CliRunner().invoke, main, argv)


async def test_a_rewritten_decision_is_named_by_the_sealed_result(
    stamped_server: RunningServer, tsa: LocalTsa, tmp_path: Path
) -> None:
    server = stamped_server
    session_id, pdf = await decided_result(server, tmp_path)
    await sign_checkpoint(server.db, server.settings)
    stated = claims.read(pdf.read_bytes())
    assert stated is not None and stated.decision is not None
    assert stated.decision.outcome == "approved" and stated.session_id == session_id
    good = await auditor_verify(server, tsa, pdf)
    assert good.exit_code == 0, good.output
    assert "ok   decision: approved as recorded in the chain" in good.output
    assert "time-stamped" in good.output, "a B-T seal says when the TSA saw it"
    # the attacker turns the approval into a rejection and recomputes every hash after it
    attacker = Attacker(server.settings.data_dir / "vcounter.db")
    attacker.unguard()
    decision = stated.decision
    attacker.rewrite_event(
        session_id,
        decision.seq,
        {**_payload(attacker, session_id, decision.seq), "outcome": "rejected"},
    )
    bad = await auditor_verify(server, tsa, pdf)
    assert bad.exit_code == 1
    assert "FAIL chain head: the chain was rewritten after this document was sealed" in bad.output
    assert (
        f"FAIL decision: the document says approved ('ok'); the chain records rejected ('ok')"
        f" at event {decision.seq}" in bad.output
    ), bad.output
    assert "differs from signed checkpoint" in bad.output


async def test_seals_are_time_stamped_with_validation_info(
    stamped_server: RunningServer, tsa: LocalTsa, tmp_path: Path
) -> None:
    _, pdf = await decided_result(stamped_server, tmp_path)
    data = pdf.read_bytes()
    roots = [*trust_roots(stamped_server.settings.data_dir, {}), tsa.cert_path.read_bytes()]
    (seal,) = await asyncio.to_thread(check_seals, data, roots)
    assert seal.ok and seal.timestamp_ok, seal.summary
    assert seal.timestamped_at, "PAdES B-T: the signature carries a TSA time stamp"
    assert "/DSS" in PdfFileReader(io.BytesIO(data)).root, "B-LT: validation data in the file"
    assert tsa.requests >= 3  # receipt, application and result seals


def _payload(attacker: Attacker, session_id: str, seq: int) -> dict[str, object]:
    (row,) = attacker.sql(
        "SELECT payload FROM session_events WHERE session_id = ? AND seq = ?", session_id, seq
    )
    loaded: dict[str, object] = json.loads(row[0])
    return loaded


async def test_an_unreachable_tsa_does_not_stop_the_counter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a port nothing listens on: the TSA is down
    settings = make_settings(tmp_path, tsa_url="http://127.0.0.1:9/")
    server, runner = await start_server(settings)
    try:
        _, pdf = await decided_result(server, tmp_path)
    finally:
        await runner.cleanup()
    roots = trust_roots(settings.data_dir, {})
    (seal,) = await asyncio.to_thread(check_seals, pdf.read_bytes(), roots)
    assert seal.ok and not seal.timestamped_at, "sealed B-B when the TSA is away"
    assert "sealed without a time stamp (PAdES B-B); check tsa_url" in caplog.text
    assert "did not stamp the checkpoint" in caplog.text
