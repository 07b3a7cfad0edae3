"""Uploads through the real server: whole, broken off and resumed, twice, at once; reading."""

from __future__ import annotations

import asyncio
import hashlib
from urllib.parse import urlsplit

from signaling.document_access import DOCUMENTS
from signaling.keys import BLOBS
from storage.audit import AuditLog
from tests.conftest import CLERK_PASSWORD
from tests.documents import samples
from tests.documents.conftest import LiveCall, add_supervisor, meta
from tests.peers import login


async def document_events(call: LiveCall) -> list[dict[str, object]]:
    events = await AuditLog(call.server.db).events(call.session_id)
    return [e.payload for e in events if e.kind == "document.added"]


async def test_upload_is_stored_chained_pushed_and_readable_by_the_clerk(call: LiveCall) -> None:
    data = samples.page_jpeg(1)
    status = await call.uploader.upload(call.session_id, data, meta())
    sha = hashlib.sha256(data).hexdigest()
    assert status.stored and not status.duplicate and status.document is not None
    assert status.document.sha256 == sha and status.document.content_type == "image/jpeg"
    assert (await document_events(call))[0]["sha256"] == sha
    assert await call.server.app[BLOBS].get(sha) == data
    report = await AuditLog(call.server.db).verify(call.session_id)
    assert report.ok

    await call.clerk.wait(
        lambda: bool(call.pushed["document_added"]) and bool(call.pushed["checklist"])
    )
    assert call.pushed["document_added"][0]["document"]["sha256"] == sha
    item = next(
        i for i in call.pushed["checklist"][-1]["items"] if i["material_id"] == "business-licence"
    )
    assert item["status"] == "received" and item["documents"] == [sha]

    code, body = await call.as_clerk("GET", f"/documents/{sha}")
    assert code == 200 and body == data
    code, listing = await call.as_clerk("GET", "/documents")
    assert code == 200 and [d["sha256"] for d in listing["documents"]] == [sha]


async def test_only_the_sessions_clerk_and_supervisors_can_read(call: LiveCall) -> None:
    data = samples.page_jpeg(2)
    await call.uploader.upload(call.session_id, data, meta())
    sha = hashlib.sha256(data).hexdigest()
    supervisor = await add_supervisor(call.server)
    code, body = await call.as_clerk("GET", f"/documents/{sha}", token=supervisor)
    assert code == 200 and body == data
    code, error = await call.as_clerk("POST", "/materials/business-licence/review", token=supervisor,
                                      json={"decision": "accepted"})  # fmt: skip
    assert code == 403 and "only to its clerk" in error["message"]

    await call.server.add_clerk("bob")
    other = await login(call.server.url, "bob", CLERK_PASSWORD)
    code, error = await call.as_clerk("GET", f"/documents/{sha}", token=other)
    assert code == 403 and error["code"] == "forbidden"
    code, _ = await call.as_clerk("GET", "/checklist", token=other)
    assert code == 403
    code, checklist = await call.as_clerk("GET", "/checklist")
    assert code == 200 and checklist["session_id"] == call.session_id
    code, checklist = await call.as_clerk("GET", "/checklist", token=call.terminal_token)
    assert code == 200 and len(checklist["items"]) == 5
    assert "its clerk and supervisors" in error["message"]
    code, error = await call.as_clerk("GET", f"/documents/{sha}", token=call.terminal_token)
    assert code == 401
    # a blob that exists but is not this session's document is not served either
    code, error = await call.as_clerk("GET", f"/documents/{'0' * 64}")
    assert code == 404


async def test_broken_off_upload_resumes_where_the_server_left_off(call: LiveCall) -> None:
    data = samples.page_jpeg(3, dpi=120)
    sha = hashlib.sha256(data).hexdigest()
    assert len(data) > 100_000
    # A raw request that promises the whole file and dies halfway, as a pulled cable would.
    parts = urlsplit(call.server.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = (
        f"PUT /api/sessions/{call.session_id}/documents/{sha} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\nAuthorization: Bearer {call.terminal_token}\r\n"
        f"X-Document: {meta().model_dump_json()}\r\n"
        f"Content-Range: bytes 0-{len(data) - 1}/{len(data)}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    half = len(data) // 2
    writer.write(head.encode() + data[:half])
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await writer.wait_closed()
    del reader

    async def received() -> int:
        return (await call.uploader.status(call.session_id, sha)).received

    for _ in range(200):  # the server notices the broken connection on its own time
        if await received() == half:
            break
        await asyncio.sleep(0.05)
    assert await received() == half, "what arrived before the break is kept"
    assert await document_events(call) == []

    # the uploader asks the server first, then sends only the rest
    sent: list[int] = []
    original = call.uploader._put

    async def counting(session_id, sha_, body, start, end, meta_):  # type: ignore[no-untyped-def]
        sent.append(start)
        return await original(session_id, sha_, body, start, end, meta_)

    call.uploader._put = counting  # type: ignore[method-assign]
    status = await call.uploader.upload(call.session_id, data, meta())
    assert status.stored and status.document is not None and status.document.bytes == len(data)
    _, body = await call.as_clerk("GET", f"/documents/{sha}")
    assert body == data
    assert sent[0] == half and sent == sorted(sent), "the first half is not sent again"


async def test_same_file_twice_is_stored_once(call: LiveCall) -> None:
    data = samples.page_jpeg(4)
    first = await call.uploader.upload(call.session_id, data, meta())
    second = await call.uploader.upload(call.session_id, data, meta())
    assert first.stored and not first.duplicate
    assert second.stored and second.duplicate
    assert second.document == first.document
    assert len(await document_events(call)) == 1


async def test_concurrent_uploads_all_arrive_and_duplicates_stay_single(call: LiveCall) -> None:
    files = [samples.page_jpeg(seed) for seed in (10, 11, 12, 13)]
    files.append(files[0])  # the same page sent twice at the same time
    files.append(files[0])
    results = await asyncio.gather(
        *(call.uploader.upload(call.session_id, f, meta()) for f in files)
    )
    assert all(r.stored for r in results)
    assert sum(1 for r in results if not r.duplicate) == 4
    events = await document_events(call)
    assert sorted(str(e["sha256"]) for e in events) == sorted(
        {hashlib.sha256(f).hexdigest() for f in files}
    )
    assert (await AuditLog(call.server.db).verify(call.session_id)).ok


async def test_a_whole_file_the_server_never_stored_is_stored_on_resume(call: LiveCall) -> None:
    """Every byte arrived but the server stopped before checking and storing it."""
    data = samples.page_jpeg(5)
    sha = hashlib.sha256(data).hexdigest()
    uploads = call.server.app[DOCUMENTS].uploads
    part = uploads.path(call.session_id, sha)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(data)
    assert (await call.uploader.status(call.session_id, sha)).received == len(data)

    status = await call.uploader.upload(call.session_id, data, meta())
    assert status.stored and status.document is not None and status.document.bytes == len(data)
    assert [e["sha256"] for e in await document_events(call)] == [sha]
    _, body = await call.as_clerk("GET", f"/documents/{sha}")
    assert body == data
