"""The audit trail against someone who holds the database file and the data directory.

Each test is one attack, done with sqlite3 and the public algorithms (tests/audit_tamper/
attacker.py), and asserts that the auditor's `vcounter audit verify` — given the pinned key,
the witness and the TSA root from outside the data — FAILS with a sentence naming what.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from storage.audit import AuditLog
from storage.blobs import FileBlobStore
from storage.checkpoint_keys import PinnedKeys, load_or_create_key
from storage.checkpoints import CheckpointRefused, all_checkpoints, make_checkpoint
from storage.trail import Policy, check_checkpoints
from storage.verify import verify_session, verify_staff
from tests.audit_tamper.attacker import resign_record
from tests.audit_tamper.conftest import Site


async def test_the_untouched_trail_verifies_with_pins_witness_and_time_stamps(site: Site) -> None:
    result = await site.verify("--all")
    assert result.exit_code == 0, result.output
    assert "checkpoints: OK" in result.output and "staff log: OK" in result.output
    assert "2 session(s) checked, 0 with problems" in result.output
    assert len(list(site.witness.glob("*.json"))) == 2
    assert site.tsa.requests == 2, "every checkpoint is time-stamped"


async def test_no_pinned_key_is_not_a_pass(site: Site) -> None:
    result = await site.cli("audit", "verify", "--all")
    assert result.exit_code == 1
    assert "no pinned audit key to check signatures with" in result.output


async def test_rewritten_events_with_fresh_hashes_fail_and_are_never_signed_again(
    site: Site,
) -> None:
    victim = site.sessions[0]
    site.attacker.unguard()
    site.attacker.rewrite_event(victim, 2, {"n": "approved by nobody"})
    result = await site.verify(victim)
    assert result.exit_code == 1
    assert f"session {victim}: BROKEN" in result.output
    assert "chain event 4: differs from signed checkpoint 1 of" in result.output, result.output
    # the server's next round refuses to put a signature on the rewritten chain
    with pytest.raises(CheckpointRefused, match=f"session {victim}: event 5 is not the one"):
        await site.checkpoint()
    assert len(await all_checkpoints(site.db)) == 2


async def test_resigned_with_a_new_key_placed_in_the_data_dir(site: Site) -> None:
    victim = site.sessions[0]
    site.attacker.unguard()
    site.attacker.rewrite_event(victim, 2, {"n": "forged"})
    site.attacker.sql("DELETE FROM chain_checkpoints")
    # the attacker signs afresh with a key of their own where the default key would live
    signed = await site.cli("audit", "checkpoint")
    assert signed.exit_code == 0 and "checkpoint 1 signed" in signed.output, signed.output
    assert (site.data_dir / "audit-signing.pem").exists()
    result = await site.verify("--all")
    assert result.exit_code == 1
    assert "checkpoint 1 of" in result.output
    assert "signed by a key that is not pinned" in result.output, result.output
    assert "checkpoint 2: the witness holds it but the store does not" in result.output
    assert "differs from the witness's copy" in result.output
    # the witness's copies still vouch for the real chain, so the rewritten session is named
    assert f"session {victim}: BROKEN" in result.output
    assert "chain event 4: differs from signed checkpoint 1 of" in result.output


async def test_deleted_newest_checkpoint_is_named_by_the_witness(site: Site) -> None:
    site.attacker.unguard()
    site.attacker.sql("DELETE FROM chain_checkpoints WHERE seq = 2")
    result = await site.verify("--all")
    assert result.exit_code == 1
    assert "checkpoint 2: the witness holds it but the store does not" in result.output
    assert "the store ends at 1" in result.output
    # and the server will not sign over the gap
    with pytest.raises(CheckpointRefused, match="the witness holds checkpoint 2"):
        await site.checkpoint()


async def test_deleted_middle_checkpoint_breaks_the_checkpoint_chain(site: Site) -> None:
    site.attacker.unguard()
    site.attacker.sql("DELETE FROM chain_checkpoints WHERE seq = 1")
    result = await site.verify("--all")
    assert result.exit_code == 1
    assert "checkpoints deleted from the start: expected checkpoint 1, found 2" in result.output


async def test_all_checkpoints_deleted_without_a_witness(site: Site) -> None:
    site.attacker.unguard()
    site.attacker.sql("DELETE FROM chain_checkpoints")
    checkpoints = await all_checkpoints(site.db)
    assert checkpoints == []
    # the auditor comes an hour later, without a witness: the events are now uncovered
    pinned = PinnedKeys.parse([site.fingerprint])
    policy = Policy(pinned, max_gap_s=600, now=_later(hours=1))
    report = await verify_session(
        site.db, FileBlobStore(site.data_dir / "blobs"), site.sessions[1], checkpoints, policy
    )
    (problem,) = report.problems
    assert str(problem).startswith(
        "chain event 1: no checkpoint covers it: checkpoints are missing"
    ), problem
    assert "no checkpoint at all" in str(problem)
    # and the server does not adopt old events as if they were new
    key = load_or_create_key(site.settings.checkpoint_key_path)
    with pytest.raises(CheckpointRefused, match="no checkpoint exists, yet events date from"):
        await make_checkpoint(site.db, key, first_max_age_s=0)


async def test_deleted_staff_log_tail(site: Site) -> None:
    site.attacker.unguard()
    site.attacker.sql("DELETE FROM staff_events WHERE seq = 3")
    result = await site.verify("--all")
    assert result.exit_code == 1
    assert "staff log: BROKEN" in result.output
    assert "events deleted from the end of the staff log: expected at least 3 events" in (
        result.output
    ), result.output


async def test_swapped_key_in_a_checkpoint_row(site: Site) -> None:
    site.attacker.unguard()
    site.attacker.resign_checkpoint(2, Ed25519PrivateKey.generate())
    result = await site.verify("--all")
    assert result.exit_code == 1
    assert "checkpoint 2 of" in result.output
    assert "signed by a key that is not pinned" in result.output
    assert "differs from the witness's copy" in result.output


async def test_swapped_signing_key_file(site: Site) -> None:
    # the operator left the key in the data directory: the attacker swaps it for theirs
    key_file = site.settings.checkpoint_key_path
    key_file.unlink()
    load_or_create_key(key_file)
    await AuditLog(site.db).append(site.sessions[1], "step", "server", {"n": 9})
    await site.checkpoint()
    result = await site.verify("--all")
    assert result.exit_code == 1
    assert "checkpoint 3 of" in result.output and "signed by a key that is not pinned" in (
        result.output
    ), result.output


async def test_backdated_checkpoint_without_the_authoritys_time(site: Site) -> None:
    # even with the real key stolen: checkpoints re-signed now carry no TSA token for then
    site.attacker.unguard()
    site.attacker.sql("DELETE FROM chain_checkpoints")
    key = load_or_create_key(site.settings.checkpoint_key_path)
    await make_checkpoint(site.db, key)
    result = await site.verify("--all")
    assert result.exit_code == 1
    assert "checkpoint 1 of" in result.output and "has no RFC 3161 time stamp" in result.output
    assert "differs from the witness's copy" in result.output


async def _export(site: Site, tmp_path: Path) -> tuple[Path, str]:
    out = tmp_path / "bundle"
    done = await site.cli(
        "audit", "export", site.sessions[0], "--out", str(out), env=site.operator_env()
    )
    assert done.exit_code == 0, done.output
    ok = await site.cli("audit", "verify", "--bundle", str(out), "--fingerprint", site.fingerprint)
    assert ok.exit_code == 0 and f"session {site.sessions[0]}: OK" in ok.output, ok.output
    return out, site.sessions[0]


async def test_an_edited_bundle(site: Site, tmp_path: Path) -> None:
    out, _ = await _export(site, tmp_path)
    rows = json.loads((out / "events.json").read_text())
    rows[1]["payload"] = {"n": "edited"}
    (out / "events.json").write_text(json.dumps(rows))
    result = await site.cli(
        "audit", "verify", "--bundle", str(out), "--fingerprint", site.fingerprint
    )
    assert result.exit_code == 1 and "event 2: hash mismatch" in result.output, result.output


async def test_a_bundle_without_its_checkpoints(site: Site, tmp_path: Path) -> None:
    out, _ = await _export(site, tmp_path)
    (out / "checkpoints.json").unlink()
    result = await site.cli(
        "audit", "verify", "--bundle", str(out), "--fingerprint", site.fingerprint
    )
    assert result.exit_code == 1
    assert "bundle: holds no signed checkpoint, so nothing vouches for its chain" in result.output


async def test_a_bundle_rewritten_and_signed_with_its_own_key(site: Site, tmp_path: Path) -> None:
    out, session_id = await _export(site, tmp_path)
    rows = json.loads((out / "events.json").read_text())
    rows = rows[:2]  # the tail goes; the checkpoints are re-signed to match
    (out / "events.json").write_text(json.dumps(rows))
    theirs = Ed25519PrivateKey.generate()
    records = json.loads((out / "checkpoints.json").read_text())
    head = [2, rows[-1]["hash"]]
    forged = [resign_record(r, theirs, heads={**r["heads"], session_id: head}) for r in records]
    (out / "checkpoints.json").write_text(json.dumps(forged))
    (out / "public_key.pem").write_text("the attacker's key: never read")
    result = await site.cli(
        "audit", "verify", "--bundle", str(out), "--fingerprint", site.fingerprint
    )
    assert result.exit_code == 1
    assert "signed by a key that is not pinned" in result.output, result.output


async def test_a_bundle_checkpoint_edited_after_signing(site: Site, tmp_path: Path) -> None:
    out, session_id = await _export(site, tmp_path)
    records = json.loads((out / "checkpoints.json").read_text())
    records[-1]["heads"][session_id] = [2, "0" * 64]
    (out / "checkpoints.json").write_text(json.dumps(records))
    result = await site.cli(
        "audit", "verify", "--bundle", str(out), "--fingerprint", site.fingerprint
    )
    assert result.exit_code == 1
    assert "changed after signing (hash mismatch)" in result.output, result.output


async def test_library_checks_agree_with_the_cli(site: Site) -> None:
    pinned = Policy(PinnedKeys.parse([site.fingerprint]), max_gap_s=600)
    checkpoints = await all_checkpoints(site.db)
    assert await check_checkpoints(checkpoints, pinned) == []
    assert await verify_staff(site.db, checkpoints, pinned) == []


def _later(hours: int) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


async def test_pinning_by_the_key_file_the_operator_hands_over(site: Site, tmp_path: Path) -> None:
    printed = await site.cli("audit", "key", env=site.operator_env())
    assert printed.exit_code == 0 and f"fingerprint: {site.fingerprint}" in printed.output
    pem = printed.output[printed.output.index("-----BEGIN") : printed.output.index("fingerprint:")]
    pinned = tmp_path / "auditor" / "vcounter-audit.pem"
    pinned.parent.mkdir()
    pinned.write_text(pem)
    ok = await site.cli("audit", "verify", "--all", "--key", str(pinned))
    assert ok.exit_code == 0, ok.output
    pinned.write_text("not a key")
    bad = await site.cli("audit", "verify", "--all", "--key", str(pinned))
    assert bad.exit_code == 1 and "is not a PEM Ed25519 key" in bad.output, bad.output
