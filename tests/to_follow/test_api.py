"""Materials to follow through the clerk's and the kiosk's APIs: deferred at the counter,
approval refused while outstanding, brought at another kiosk after the ID re-check, then
decided and printed; an essential material refused; the wrong person refused."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from signaling.paperwork.messages import ReprintRequest
from storage.audit import AuditLog
from terminal_client.errors import DocumentUploadRefused, PaperworkRefused
from terminal_client.scanner import SimulatedScanner
from terminal_client.to_follow import FollowClient
from tests.conftest import RunningServer
from tests.sign.conftest import Counter, sign
from tests.to_follow.conftest import (
    ESSENTIAL,
    FOLLOWS,
    MONDAY,
    append_scan,
    pdf_text,
    recheck,
    second_kiosk,
    set_clock,
)

DUE = "2026-12-14"  # five working days after Monday 7 December 2026


async def defer(c: Counter, material_id: str, **extra: Any) -> tuple[int, Any]:
    body = {"material_id": material_id, **extra}
    return await c.as_clerk("POST", f"/api/sessions/{c.session_id}/to-follow", body)


async def decide(c: Counter, outcome: str) -> tuple[int, Any]:
    body = {"outcome": outcome, "reason": f"{outcome} by the test"}
    return await c.as_clerk("POST", f"/api/sessions/{c.session_id}/decision", body)


async def test_an_essential_material_cannot_follow(counter: Counter) -> None:
    set_clock(counter.server, MONDAY)
    status, body = await defer(counter, ESSENTIAL)
    assert status == 400 and body["code"] == "material_essential"
    assert body["message"].startswith("Business licence is essential for this service")
    status, body = await defer(counter, FOLLOWS, days=45)
    assert status == 400 and "longer than the 30 allowed" in body["message"]
    status, body = await defer(counter, "no-such-material")
    assert status == 400 and "needs no material 'no-such-material'" in body["message"]
    # nothing of those is in the chain; the checklist still says missing
    kinds = [e.kind for e in await AuditLog(counter.server.db).events(counter.session_id)]
    assert "material.deferred" not in kinds
    status, checklist = await counter.as_clerk(
        "GET", f"/api/sessions/{counter.session_id}/checklist"
    )
    item = next(i for i in checklist["items"] if i["material_id"] == FOLLOWS)
    assert (item["status"], item["may_follow"], item["due_on"]) == ("missing", True, None)


@pytest.mark.timeout(120)
async def test_accepted_to_follow_supplied_at_another_kiosk_then_decided(counter: Counter) -> None:
    server, sid = counter.server, counter.session_id
    set_clock(server, MONDAY)
    status, item = await defer(counter, FOLLOWS)
    assert status == 201, item
    assert (item["due_on"], item["state"]) == (DUE, "outstanding")
    status, checklist = await counter.as_clerk("GET", f"/api/sessions/{sid}/checklist")
    line = next(i for i in checklist["items"] if i["material_id"] == FOLLOWS)
    assert (line["status"], line["due_on"]) == ("to_follow", DUE)

    signed = await sign(counter)
    number = signed["acceptance_number"]
    receipt = next(d for d in signed["documents"] if d["kind"] == "receipt")
    status, pdf = await counter.as_kiosk("GET", receipt["url"].removeprefix(server.url))
    assert status == 200
    text = pdf_text(pdf)
    assert "容缺後補材料" in text and f"補交期限 {DUE}" in text and "經營場所證明" in text

    # the decision waits for it: approval refused with a sentence, the state unchanged
    status, refused = await decide(counter, "approved")
    assert status == 409 and refused["code"] == "material_outstanding"
    assert f"waits for the material to follow {FOLLOWS} (due {DUE})" in refused["message"]
    status, view = await counter.as_clerk("GET", f"/api/sessions/{sid}/application")
    assert view["state"] == "submitted"
    assert [(t["material_id"], t["state"]) for t in view["to_follow"]] == [(FOLLOWS, "outstanding")]

    # at another kiosk: the wrong person is refused, the right one is shown what to bring
    token, terminal_id = await second_kiosk(server)
    kiosk = FollowClient(server.url, token, "kiosk-2")
    with pytest.raises(PaperworkRefused) as wrong:
        await kiosk.lookup(ReprintRequest.model_validate(recheck(number, "Z9999999")))
    assert wrong.value.code == "identity_mismatch"
    found = await kiosk.lookup(ReprintRequest.model_validate(recheck(number)))
    assert [i.material_id for i in found.items] == [FOLLOWS]
    with pytest.raises(PaperworkRefused) as early:
        await kiosk.finish(found, FOLLOWS)
    assert early.value.code == "not_ready" and "scan every page" in str(early.value)
    scanner = SimulatedScanner(dpi=100, seconds_per_scan=0.01)
    with pytest.raises(DocumentUploadRefused):  # a material it does not wait for
        await kiosk.scan(found, ESSENTIAL, scanner, 1_500_000)
    stored = await kiosk.scan(found, FOLLOWS, scanner, 1_500_000)
    assert stored.stored and stored.document is not None
    left = await kiosk.finish(found, FOLLOWS)
    assert left.items == []
    with pytest.raises(PaperworkRefused) as nothing:
        await kiosk.lookup(ReprintRequest.model_validate(recheck(number)))
    assert nothing.value.code == "nothing_to_follow"
    scanner.close()

    status, view = await counter.as_clerk("GET", f"/api/sessions/{sid}/application")
    supplied = view["to_follow"][0]
    assert supplied["state"] == "supplied" and supplied["documents"] == [stored.document.sha256]
    status, decided = await decide(counter, "approved")
    assert status == 200 and decided["state"] == "approved", decided

    # the result prints at that kiosk by number after the re-check
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/api/reprint", json=recheck(number),
                  headers={"Authorization": f"Bearer {token}"}) as r,
    ):  # fmt: skip
        printed = await r.json()
    assert r.status == 200 and {d["kind"] for d in printed["documents"]} == {"receipt", "result"}
    events = await AuditLog(server.db).events(sid)
    kinds = [e.kind for e in events]
    assert kinds.count("material.deferred") == 1 and kinds.count("material.supplied") == 1
    scan = next(
        e for e in events if e.kind == "document.added" and e.payload["material_id"] == FOLLOWS
    )
    assert scan.actor == f"terminal:{terminal_id}"
    assert [e.payload["result"] for e in events if e.kind == "material.lookup"] == [
        "identity_mismatch", "ok", "ok",
    ]  # fmt: skip
    assert kinds.index("material.supplied") < kinds.index("decision.recorded")


async def test_a_material_brought_in_the_call_after_all_voids_the_deferral(
    counter: Counter,
) -> None:
    set_clock(counter.server, MONDAY)
    status, _ = await defer(counter, FOLLOWS)
    assert status == 201
    await append_scan(counter.server, counter.session_id, FOLLOWS)
    signed = await sign(counter)
    status, view = await counter.as_clerk("GET", f"/api/sessions/{counter.session_id}/application")
    assert [(t["material_id"], t["state"]) for t in view["to_follow"]] == [(FOLLOWS, "brought")]
    # nothing to bring at a kiosk, and the decision does not wait
    token, _ = await second_kiosk(counter.server)
    with pytest.raises(PaperworkRefused) as nothing:
        await FollowClient(counter.server.url, token).lookup(
            ReprintRequest.model_validate(recheck(signed["acceptance_number"]))
        )
    assert nothing.value.code == "nothing_to_follow"
    status, decided = await decide(counter, "approved")
    assert status == 200 and decided["state"] == "approved"


async def test_look_ups_are_limited_per_kiosk(server: RunningServer) -> None:
    token, _ = await second_kiosk(server)
    unknown = recheck("VC202612020000018")  # well formed, never issued
    answers = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(4):
            async with http.post(f"{server.url}/api/to-follow/lookup", json=unknown) as r:
                answers.append((r.status, (await r.json())["code"], r.headers.get("Retry-After")))
    assert [a[:2] for a in answers[:3]] == [(404, "unknown_acceptance_number")] * 3
    status, code, retry = answers[3]
    assert (status, code) == (429, "rate_limited") and retry is not None and int(retry) >= 1
    # another kiosk is not held back by this one
    other, _ = await second_kiosk(server, "kiosk-3")
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {other}"}) as http,
        http.post(f"{server.url}/api/to-follow/lookup", json=unknown) as r,
    ):
        assert r.status == 404
