"""Each bad upload is refused with its own sentence in the applicant's language, and what
was stored before stays as it was."""

from __future__ import annotations

import hashlib

import pytest

from signaling.document_texts import refusal_text
from signaling.keys import BLOBS
from storage.audit import AuditLog
from terminal_client.errors import DocumentUploadRefused
from tests.documents import samples
from tests.documents.conftest import LiveCall, meta

BAD = [
    ("empty", b"", "empty_file", {}),
    ("exe-named-pdf", samples.not_a_document(), "wrong_type", {}),
    ("truncated-jpeg", samples.corrupt_jpeg(), "corrupt_image", {}),
    ("bomb", samples.bomb_png(), "too_many_pixels", {"megapixels": 50}),
    ("corrupt-pdf", samples.corrupt_pdf(), "corrupt_pdf", {}),
    ("encrypted-pdf", samples.encrypted_pdf(), "encrypted_pdf", {}),
    ("javascript-pdf", samples.javascript_pdf(), "pdf_javascript", {}),
    ("over-limit", b"\xff\xd8\xff" + bytes(21 * 1024 * 1024), "too_large", {"limit_mb": 20}),
]


@pytest.mark.parametrize(("data", "code", "params"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_bad_upload_refused_in_the_applicants_language_and_nothing_lost(
    call_zh: LiveCall, data: bytes, code: str, params: dict[str, object]
) -> None:
    call = call_zh
    good = samples.page_jpeg(5)
    await call.uploader.upload(call.session_id, good, meta())
    before = (await call.as_clerk("GET", "/documents"))[1]

    with pytest.raises(DocumentUploadRefused) as caught:
        await call.uploader.upload(call.session_id, data, meta("legal-representative-id"))
    assert caught.value.reason_code == code
    expected = refusal_text(code, "zh-Hant", **params)
    assert caught.value.message == expected
    assert any("\u4e00" <= ch <= "\u9fff" for ch in expected), "the sentence is in Chinese"

    # nothing already stored is lost or changed; the refused file is not stored
    assert (await call.as_clerk("GET", "/documents"))[1] == before
    assert await call.server.app[BLOBS].get(hashlib.sha256(good).hexdigest()) == good
    assert not await call.server.app[BLOBS].exists(hashlib.sha256(data).hexdigest())
    assert (await AuditLog(call.server.db).verify(call.session_id)).ok


async def test_material_the_service_does_not_need_is_refused(call_zh: LiveCall) -> None:
    with pytest.raises(DocumentUploadRefused) as caught:
        await call_zh.uploader.upload(
            call_zh.session_id, samples.page_jpeg(), meta("marriage-certificate")
        )
    assert caught.value.reason_code == "unknown_material"
    assert caught.value.message == refusal_text("unknown_material", "zh-Hant")


async def test_refusals_in_english_for_an_english_session(call: LiveCall) -> None:
    with pytest.raises(DocumentUploadRefused) as caught:
        await call.uploader.upload(call.session_id, samples.encrypted_pdf(), meta())
    assert caught.value.message == refusal_text("encrypted_pdf", "en")
    assert "password" in caught.value.message


async def test_after_the_call_uploads_are_refused_and_documents_stay_readable(
    call: LiveCall,
) -> None:
    data = samples.page_jpeg(9)
    await call.uploader.upload(call.session_id, data, meta())
    await call.terminal.hangup()
    await call.clerk.wait(lambda: bool(call.clerk.ended))
    with pytest.raises(DocumentUploadRefused) as caught:
        await call.uploader.upload(call.session_id, samples.page_jpeg(10), meta())
    assert caught.value.reason_code == "session_not_active"
    assert caught.value.message == refusal_text("session_not_active", "en")
    # the record stays: the clerk (from the stored session) can still read what came
    await call.server.stored()
    code, body = await call.as_clerk("GET", f"/documents/{hashlib.sha256(data).hexdigest()}")
    assert code == 200 and body == data
