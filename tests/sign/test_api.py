"""The paperwork over the real server: form, signature, decision, reprint, verify; bad input."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

from click.testing import CliRunner
from pyhanko.pdf_utils.reader import PdfFileReader

from signaling.cli import main
from signaling.keys import BLOBS
from signaling.paperwork.acceptance import EXAMPLE, check_character, format_number, normalise
from storage.audit import AuditLog
from storage.checkpoint_keys import fingerprint, load_or_create_key
from storage.verify import verify_session
from tests.conftest import RunningServer
from tests.sign.conftest import (
    DOCUMENT_NUMBER,
    Counter,
    append_stand_in_identity,
    open_counter,
    sign,
    strokes,
)
from tests.sign.test_seal import pyhanko_validates


def test_acceptance_number_format_and_check_character() -> None:
    number = format_number("20261202", 17)
    assert re.fullmatch(r"VC20261202000017[0-9X]", number)
    assert normalise(f"vc-2026 1202-000017-{number[-1].lower()}") == number
    assert check_character("11010519491231002") == "X"  # the textbook ID-card example
    assert normalise(EXAMPLE) == EXAMPLE == format_number("20261202", 1)  # the documented one


async def test_signature_issues_a_number_and_sealed_documents(counter: Counter) -> None:
    server = counter.server
    signed = await sign(counter)
    number = signed["acceptance_number"]
    assert normalise(number) == number
    kinds = {d["kind"]: d for d in signed["documents"]}
    assert set(kinds) == {"application", "receipt"}
    for doc in signed["documents"]:
        status, pdf = await counter.as_kiosk("GET", doc["url"].removeprefix(server.url))
        assert status == 200 and isinstance(pdf, bytes)
        await asyncio.to_thread(pyhanko_validates, pdf, server.settings.data_dir)
    # the sealed application begins with the very form that was shown
    events = await AuditLog(server.db).events(counter.session_id)
    form = next(e for e in events if e.kind == "form.generated").payload
    status, sealed = await counter.as_kiosk(
        "GET", kinds["application"]["url"].removeprefix(server.url)
    )
    assert sealed.startswith(await server.app[BLOBS].get(form["sha256"]))
    captured = next(e for e in events if e.kind == "signature.captured").payload
    assert captured["form_sha256"] == form["sha256"] and captured["strokes"] == 3
    assert (await verify_session(server.db, server.app[BLOBS], counter.session_id)).ok
    # the numbers count up per day
    second = await open_counter(server, "bob", "kiosk-2")
    await append_stand_in_identity(server, second.session_id)
    other = (await sign(second))["acceptance_number"]
    assert int(other[10:16]) == int(number[10:16]) + 1


async def test_a_signature_with_no_strokes_is_refused(counter: Counter) -> None:
    status, form = await counter.as_clerk("POST", f"/api/sessions/{counter.session_id}/form")
    path = f"/api/sessions/{counter.session_id}/signature"
    body = {"form_sha256": form["form"]["sha256"], "width": 600, "height": 200, "strokes": []}
    status, error = await counter.as_kiosk("POST", path, body)
    assert status == 400 and error["code"] == "no_strokes"
    assert "sign inside the box" in error["message"]
    body["strokes"] = [{"points": []}]
    assert (await counter.as_kiosk("POST", path, body))[1]["code"] == "no_strokes"
    # a signature for another form than the one shown
    body = {"form_sha256": "0" * 64, "width": 600, "height": 200, "strokes": strokes()}
    status, error = await counter.as_kiosk("POST", path, body)
    assert status == 409 and error["code"] == "form_mismatch"
    events = await AuditLog(counter.server.db).events(counter.session_id)
    assert not [e for e in events if e.kind == "signature.captured"]  # nothing recorded


async def test_decision_rules_and_the_result_document(counter: Counter) -> None:
    server = counter.server
    path = f"/api/sessions/{counter.session_id}/decision"
    status, error = await counter.as_clerk("POST", path, {"outcome": "approved", "reason": "ok"})
    assert status == 409 and error["code"] == "not_ready"  # nothing signed yet
    await sign(counter)
    # another clerk's session: refused, and nothing is written
    intruder = await open_counter(server, "mallory", "kiosk-9")
    status, error = await intruder.as_clerk("POST", path, {"outcome": "rejected", "reason": "no"})
    assert status == 403 and error["code"] == "decision_refused"
    status, view = await counter.as_clerk(
        "POST", path, {"outcome": "approved", "reason": "complete"}
    )
    assert status == 200 and view["state"] == "approved"
    result = next(d for d in view["documents"] if d["kind"] == "result")
    status, pdf = await counter.as_clerk("GET", result["url"].removeprefix(server.url))
    await asyncio.to_thread(pyhanko_validates, pdf, server.settings.data_dir)
    assert len(PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Kids"]) == 2  # + completion
    status, error = await counter.as_clerk("POST", path, {"outcome": "rejected", "reason": "late"})
    assert status == 409 and "approved" in error["message"]


async def test_second_approval_needs_another_clerk_of_the_department(server: RunningServer) -> None:
    first = await open_counter(server, "carol", "kiosk-3", service="pension-claim")
    await append_stand_in_identity(server, first.session_id)
    await sign(first)
    path = f"/api/sessions/{first.session_id}/decision"
    status, view = await first.as_clerk("POST", path, {"outcome": "approved", "reason": "fine"})
    assert view["state"] == "awaiting_second_approval"
    assert not [d for d in view["documents"] if d["kind"] == "result"]
    status, error = await first.as_clerk("POST", path, {"outcome": "approved", "reason": "again"})
    assert status == 403 and "second clerk" in error["message"]
    second = await open_counter(server, "dave", "kiosk-4")
    status, pending = await second.as_clerk("GET", "/api/decisions/pending")
    assert [a["session_id"] for a in pending["applications"]] == [first.session_id]
    status, view = await second.as_clerk("POST", path, {"outcome": "approved", "reason": "checked"})
    assert status == 200 and view["state"] == "approved"
    assert [d["stage"] for d in view["decisions"]] == ["first", "second"]
    assert (await second.as_clerk("GET", "/api/decisions/pending"))[1]["applications"] == []


async def test_reprint_by_number_with_the_id_check(counter: Counter) -> None:
    server = counter.server
    number = (await sign(counter))["acceptance_number"]
    await counter.as_clerk(
        "POST",
        f"/api/sessions/{counter.session_id}/decision",
        {"outcome": "approved", "reason": "ok"},
    )
    elsewhere = await server.add_terminal("kiosk-hall-2")
    face = {"score": 0.81, "threshold": 0.4, "matched": True}
    req = {
        "acceptance_number": number,
        "document_number": "Z9999999",
        "source": "chip",
        "face": face,
    }
    status, error = await counter.call("POST", "/api/reprint", elsewhere, req)
    assert status == 403 and error["code"] == "identity_mismatch"
    made_up = number[:-1] + ("0" if number[-1] != "0" else "1")
    status, error = await counter.call(
        "POST", "/api/reprint", elsewhere, {**req, "acceptance_number": made_up}
    )
    assert status == 400 and error["code"] == "bad_acceptance_number"
    unissued = format_number("20200101", 1)
    status, error = await counter.call(
        "POST", "/api/reprint", elsewhere, {**req, "acceptance_number": unissued}
    )
    assert status == 404 and error["code"] == "unknown_acceptance_number"
    # a number the reader did not read (no source) is not a re-check
    bare = {"acceptance_number": number, "document_number": DOCUMENT_NUMBER}
    status, error = await counter.call("POST", "/api/reprint", elsewhere, bare)
    assert status == 400 and "source" in error["message"]
    # the right document, but the face did not match its portrait
    unmatched = {"score": 0.12, "threshold": 0.4, "matched": False}
    status, error = await counter.call(
        "POST", "/api/reprint", elsewhere, {**bare, "source": "chip", "face": unmatched}
    )
    assert status == 403 and error["code"] == "face_mismatch"
    read = {**req, "acceptance_number": number.lower(), "document_number": "h 1234567 (8)"}
    status, view = await counter.call("POST", "/api/reprint", elsewhere, read)
    assert status == 200 and {d["kind"] for d in view["documents"]} == {"receipt", "result"}
    # the other kiosk fetches with the ticket the reprint handed out, not with its own rights
    url = view["documents"][0]["url"].removeprefix(server.url)
    assert (await counter.call("GET", url, elsewhere))[0] == 200
    assert (await counter.call("GET", url.split("?")[0], elsewhere))[0] == 403
    events = await AuditLog(server.db).events(counter.session_id)
    reprints = [e.payload for e in events if e.kind == "reprint.requested"]
    assert [e["result"] for e in reprints] == ["identity_mismatch", "face_mismatch", "ok"]
    assert reprints[-1]["recheck"] == {"document_matched": True, "source": "chip", "face": face}
    assert reprints[0]["recheck"]["document_matched"] is False


async def test_verify_page_cli_and_a_changed_byte(counter: Counter, tmp_path: Path) -> None:
    server = counter.server
    signed = await sign(counter)
    receipt = next(d for d in signed["documents"] if d["kind"] == "receipt")
    verify_path = receipt["verify_url"].removeprefix(server.url)
    status, page = await counter.call("GET", verify_path, "")
    assert status == 200 and "Document verified" in page.decode()
    status, pdf = await counter.as_kiosk("GET", receipt["url"].removeprefix(server.url))
    good, bad = tmp_path / "receipt.pdf", tmp_path / "changed.pdf"
    good.write_bytes(pdf)
    changed = bytearray(pdf)
    changed[2000] ^= 0x20
    bad.write_bytes(bytes(changed))
    # the auditor pins the server's checkpoint key (given by its operator, not read from data)
    pin = fingerprint(load_or_create_key(server.settings.checkpoint_key_path))
    args = ["--data-dir", str(server.settings.data_dir), "verify", "--fingerprint", pin]
    env = {"VCOUNTER_SECRET_KEY": "x" * 40}
    # the CLI runs its own event loop: give it a thread of its own
    result = await asyncio.to_thread(CliRunner().invoke, main, [*args, str(good)], env=env)
    assert result.exit_code == 0, result.output
    assert "verified: receipt" in result.output and signed["acceptance_number"] in result.output
    result = await asyncio.to_thread(CliRunner().invoke, main, [*args, str(bad)], env=env)
    assert result.exit_code == 1
    assert "FAIL seal 1" in result.output
    assert (
        "FAIL store: differs from the stored receipt: byte 2000 (inside PDF object" in result.output
    )
    # the same through the public upload
    import aiohttp

    async with aiohttp.ClientSession() as http:
        form = aiohttp.FormData()
        form.add_field("file", bytes(changed), filename="x.pdf", content_type="application/pdf")
        async with http.post(f"{server.url}/verify", data=form) as r:
            assert r.status == 409
            text = await r.text()
            # the public page names the part, never where or what the stored bytes are
            assert "differs from the stored original" in text
            assert "byte 2000" not in text and "0x" not in text
