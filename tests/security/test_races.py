"""Hole 6: of racing requests one wins; nothing is recorded after the call has ended."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta

from signaling.paperwork import decisions as d
from signaling.phone import PHONE_LINKS, PhoneGrant
from storage import store
from storage.audit import AuditLog
from tests.security.conftest import Counter, assert_responsive, request, stored_state
from tests.sign.conftest import sign


async def test_approve_and_reject_at_once_one_wins(counter: Counter) -> None:
    await sign(counter)
    path = f"/api/sessions/{counter.session_id}/decision"
    results = await asyncio.gather(
        counter.as_clerk("POST", path, {"outcome": "approved", "reason": "all in order"}),
        counter.as_clerk("POST", path, {"outcome": "rejected", "reason": "not in order"}),
    )
    statuses = sorted(s for s, _ in results)
    assert statuses == [200, 409], results
    events = await AuditLog(counter.server.db).events(counter.session_id)
    assert [e.kind for e in events].count(d.DECISION_EVENT) == 1
    assert (await AuditLog(counter.server.db).verify(counter.session_id)).ok
    await assert_responsive(counter.server)


def _segment(index: int, content: bytes) -> tuple[bytes, dict[str, str]]:
    data = b"\x1a\x45\xdf\xa3" + content
    meta = {
        "side": "applicant", "index": index, "sha256": hashlib.sha256(data).hexdigest(),
        "start_ms": 0, "end_ms": 4000, "video_frames": 60, "audio_ms": 4000, "t0": time.time(),
    }  # fmt: skip
    return data, {"X-Segment": json.dumps(meta)}


async def test_one_segment_number_is_stored_once_even_when_sent_twice_at_once(
    counter: Counter,
) -> None:
    path = f"/api/sessions/{counter.session_id}/recordings/applicant/0"
    attempts = [_segment(0, f"version {i}".encode() * 50) for i in range(4)]
    results = await asyncio.gather(
        *(
            request(counter.server, "PUT", path, counter.terminal_token, data=data, headers=h)
            for data, h in attempts
        )
    )
    statuses = sorted(s for s, _ in results)
    assert statuses == [201, 409, 409, 409], results
    events = await AuditLog(counter.server.db).events(counter.session_id)
    assert [e.kind for e in events].count("recording.segment") == 1


async def test_no_segment_long_after_the_call_ended(counter: Counter) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    await store.update_session(
        counter.server.db, counter.session_id, state="ended", ended_at=long_ago
    )
    before = await stored_state(counter.server)
    data, headers = _segment(5, b"late" * 100)
    status, body = await request(
        counter.server,
        "PUT",
        f"/api/sessions/{counter.session_id}/recordings/applicant/5",
        counter.terminal_token,
        data=data,
        headers=headers,
    )
    assert status == 409 and body["code"] == "session_not_active"
    assert await stored_state(counter.server) == before
    await assert_responsive(counter.server)


async def test_no_identity_report_or_override_after_the_call(counter: Counter) -> None:
    await store.update_session(
        counter.server.db, counter.session_id, state="ended", ended_at=datetime.now(UTC)
    )
    before = await stored_state(counter.server)
    report = {"outcome": "failed", "failure_code": "no_face", "evidence": []}
    status, body = await counter.as_kiosk(
        "POST", f"/api/sessions/{counter.session_id}/identity", report
    )
    assert status == 409 and body["code"] == "session_not_active"
    status, body = await counter.as_clerk(
        "POST",
        f"/api/sessions/{counter.session_id}/identity/override",
        {"reason": "I know this applicant well"},
    )
    assert status == 409 and body["code"] == "session_not_active"
    assert await stored_state(counter.server) == before
    await assert_responsive(counter.server)


async def test_a_phone_link_carries_one_upload_at_a_time(counter: Counter) -> None:
    token = "t" * 32
    grant = PhoneGrant(counter.session_id, time.monotonic() + 60, claimed=True)
    counter.server.app[PHONE_LINKS][token] = grant  # an upload with it is under way
    before = await stored_state(counter.server)
    status, body = await request(
        counter.server,
        "POST",
        f"/api/phone/{token}/upload?material_id=business-licence",
        data=b"\xff\xd8\xff" + b"\0" * 100,
    )
    assert status == 409 and body["code"] == "link_busy"
    grant.claimed, grant.used = False, True
    status, body = await request(counter.server, "POST", f"/api/phone/{token}/upload", data=b"x")
    assert status == 410 and body["code"] == "link_used"
    assert await stored_state(counter.server) == before
