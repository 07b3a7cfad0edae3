"""e-ID sign-in against the real OpenID provider, at the API: the kiosk asks for a QR code,
the phone signs in at the provider, the identity lands in the chain; and every bad answer
(wrong issuer, wrong signature, expired token, replayed state, replayed nonce, denied
consent, expired attempt) is refused with a sentence, recorded, and loses nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from storage import store
from storage.audit import AuditLog
from storage.models import EidAttempt, utcnow
from tests.conftest import RunningServer
from tests.eid.conftest import PROVIDER_ID, STRONG_ACR, Oidc, Phone, write_keys
from tests.sign.conftest import Counter, open_counter


async def qr(c: Counter, language: str = "en") -> dict[str, Any]:
    status, link = await c.as_kiosk(
        "POST", f"/api/sessions/{c.session_id}/eid", {"provider": PROVIDER_ID, "language": language}
    )
    assert status == 201, link
    assert link["qr"].startswith("data:image/svg+xml") and link["url"].startswith(c.server.url)
    return dict(link)


async def panel(c: Counter) -> dict[str, Any]:
    status, body = await c.as_clerk("GET", f"/api/sessions/{c.session_id}/identity")
    assert status == 200, body
    return dict(body)


async def kinds(server: RunningServer, session_id: str) -> list[str]:
    return [e.kind for e in await AuditLog(server.db).events(session_id)]


async def refused_codes(server: RunningServer, session_id: str) -> list[str]:
    events = await AuditLog(server.db).events(session_id)
    return [str(e.payload.get("code")) for e in events if e.kind == "eid.refused"]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_a_strong_sign_in_is_recorded_as_verified_identity(
    server: RunningServer, oidc: Oidc, phone: Phone
) -> None:
    c = await open_counter(server)
    status, providers = await c.as_kiosk("GET", "/api/eid/providers")
    assert status == 200 and [p["id"] for p in providers] == [PROVIDER_ID]
    assert (await panel(c))["status"] == "pending"
    link = await qr(c, "zh-Hant")
    callback = await phone.sign_in(link["url"])
    page = await phone.open(callback)
    assert page.status == 200 and page.outcome == "done:done", page.html
    assert "請返回自助服務機" in page.html

    shown = await panel(c)
    assert shown["status"] == "verified", shown
    eid = shown["result"]["eid"]
    assert eid["name"] == "陳大文" and eid["document_number"] == "A1234563"
    assert eid["name_latin"] == "CHAN TAI MAN" and eid["birth_date"] == "1980-01-01"
    assert eid["acr"] == STRONG_ACR and eid["assurance"] == "strong"
    assert eid["issuer"] == oidc.issuer and eid["subject"] == "chan.taiman"
    assert shown["result"]["document"] is None
    assert (await kinds(server, c.session_id))[-5:] == [
        "eid.started", "eid.opened", "eid.answered", "eid.finished", "identity.result",
    ]  # fmt: skip
    assert (await AuditLog(server.db).verify(c.session_id)).ok


async def test_a_weaker_sign_in_waits_for_the_clerk(
    server: RunningServer, oidc: Oidc, phone: Phone
) -> None:
    c = await open_counter(server)
    link = await qr(c)
    page = await phone.open(await phone.sign_in(link["url"], "wong.siuming", "pw-weak"))
    assert page.outcome == "done:done_lower", page.html
    shown = await panel(c)
    assert shown["status"] == "failed" and shown["result"]["failure_code"] == "eid_lower_assurance"
    assert shown["result"]["eid"]["assurance"] == "lower"
    status, overridden = await c.as_clerk(
        "POST", f"/api/sessions/{c.session_id}/identity/override",
        {"reason": "checked the identity card in person against the e-ID"},
    )  # fmt: skip
    assert status == 201 and overridden["status"] == "overridden", overridden


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_a_replayed_answer_is_refused_and_the_first_stands(
    server: RunningServer, oidc: Oidc, phone: Phone
) -> None:
    c = await open_counter(server)
    callback = await phone.sign_in((await qr(c))["url"])
    assert (await phone.open(callback)).outcome == "done:done"
    again = await phone.open(callback)
    assert again.status == 409 and again.outcome == "refused:eid_replayed_state", again.html
    assert "already used" in again.html
    assert await refused_codes(server, c.session_id) == ["eid_replayed_state"]
    assert (await panel(c))["status"] == "verified"  # nothing recorded is lost
    # the QR code's link is single use too
    link_again = await phone.open((await qr(c))["url"])
    assert link_again.status == 302
    reused = await phone.open(link_again.callback)
    assert reused.outcome == "refused:eid_link_used", reused.html


async def test_a_replayed_token_is_refused_by_its_nonce(
    server: RunningServer, oidc: Oidc, phone: Phone
) -> None:
    c = await open_counter(server)
    assert (await phone.open(await phone.sign_in((await qr(c))["url"]))).outcome == "done:done"
    # the attacker between us and the provider answers the next exchange with the first token
    oidc.proxy.replay_token = True
    page = await phone.open(await phone.sign_in((await qr(c))["url"]))
    assert page.status == 400 and page.outcome == "refused:eid_bad_nonce", page.html
    assert "nonce" in page.html
    assert await refused_codes(server, c.session_id) == ["eid_bad_nonce"]
    results = [
        e for e in await AuditLog(server.db).events(c.session_id) if e.kind == "identity.result"
    ]
    assert len(results) == 1


async def test_an_impostor_with_other_keys_is_refused_by_the_signature(
    server: RunningServer, oidc: Oidc, phone: Phone
) -> None:
    c = await open_counter(server)
    # the server has the real provider's keys; then an impostor answers on its address,
    # with the same issuer, client and key id but keys of its own
    assert (await phone.open(await phone.sign_in((await qr(c))["url"]))).outcome == "done:done"
    impostor = await oidc.start(keys=write_keys(oidc.folder / "impostor-keys.json"))
    oidc.proxy.impostor = impostor.port
    page = await phone.open(await phone.sign_in((await qr(c))["url"]))
    assert page.outcome == "refused:eid_bad_signature", page.html
    assert "signature does not verify" in page.html
    assert await refused_codes(server, c.session_id) == ["eid_bad_signature"]
    assert (await panel(c))["result"]["eid"]["subject"] == "chan.taiman"  # the first stands


@pytest.mark.parametrize("strip_iss", [False, True], ids=["answer-iss", "token-iss"])
async def test_another_issuer_is_refused(
    server: RunningServer, oidc: Oidc, phone: Phone, strip_iss: bool
) -> None:
    c = await open_counter(server)
    # a provider with the real keys but another issuer answers on the real one's address;
    # without the answer's iss parameter (stripped by the attacker) the ID token gives it away
    other = oidc.issuer.replace("127.0.0.1", "localhost")
    link = await qr(c)  # the server has met the real provider
    impostor = await oidc.start(issuer=other)
    oidc.proxy.impostor = impostor.port
    oidc.proxy.strip_iss = strip_iss
    page = await phone.open(await phone.sign_in(link["url"]))
    assert page.outcome == "refused:eid_bad_issuer", page.html
    said = "the ID token was issued by" if strip_iss else "the answer says it comes from"
    assert said in page.html and other in page.html, page.html
    assert await refused_codes(server, c.session_id) == ["eid_bad_issuer"]
    assert (await panel(c))["status"] == "pending"


async def test_an_expired_token_is_refused(server: RunningServer, oidc: Oidc, phone: Phone) -> None:
    c = await open_counter(server)
    # the provider's clock is ten minutes behind: its one-minute tokens are long expired
    late = await oidc.start(clock_offset_s=-600)
    oidc.proxy.upstream = late.port
    page = await phone.open(await phone.sign_in((await qr(c))["url"]))
    assert page.outcome == "refused:eid_expired_token", page.html
    assert "expired" in page.html
    assert await refused_codes(server, c.session_id) == ["eid_expired_token"]


async def test_denied_consent_is_refused(server: RunningServer, oidc: Oidc, phone: Phone) -> None:
    c = await open_counter(server)
    page = await phone.open(await phone.sign_in((await qr(c, "zh-Hans"))["url"], deny=True))
    assert page.outcome == "refused:eid_denied", page.html
    assert "您没有同意分享身份资料" in page.html and "access_denied" in page.html
    assert await refused_codes(server, c.session_id) == ["eid_denied"]


async def test_an_expired_attempt_is_refused(
    server: RunningServer, oidc: Oidc, phone: Phone
) -> None:
    c = await open_counter(server)
    link = await qr(c)
    # the QR code has been on the screen past its time (the row says when it ends)
    async with server.db.sessions() as s, s.begin():
        await s.execute(
            update(EidAttempt)
            .where(EidAttempt.id == link["attempt_id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    page = await phone.open(link["url"])
    assert page.status == 410 and page.outcome == "refused:eid_attempt_expired", page.html
    assert "eid.expired" in await kinds(server, c.session_id)


async def test_the_kiosk_is_refused_an_unknown_provider_and_another_kiosks_session(
    server: RunningServer, oidc: Oidc
) -> None:
    c = await open_counter(server)
    status, body = await c.as_kiosk(
        "POST", f"/api/sessions/{c.session_id}/eid", {"provider": "nope", "language": "en"}
    )
    assert status == 404 and "no e-ID provider 'nope'" in body["message"], body
    other = await open_counter(server, "bob", "kiosk-2")
    status, body = await other.as_kiosk(
        "POST", f"/api/sessions/{c.session_id}/eid", {"provider": PROVIDER_ID, "language": "en"}
    )
    assert status == 403, body


async def test_a_provider_that_names_another_issuer_is_refused_at_the_kiosk(
    server: RunningServer, oidc: Oidc
) -> None:
    c = await open_counter(server)
    # before the server has met the provider, its address answers as another issuer
    other = oidc.issuer.replace("127.0.0.1", "localhost")
    oidc.proxy.upstream = (await oidc.start(issuer=other)).port
    status, body = await c.as_kiosk(
        "POST", f"/api/sessions/{c.session_id}/eid", {"provider": PROVIDER_ID, "language": "en"}
    )
    assert status == 502 and body["code"] == "eid_bad_issuer", body
    assert f"calls itself '{other}'" in body["message"], body
    assert "eid.started" not in await kinds(server, c.session_id)


async def test_a_sign_in_for_a_call_that_has_ended_is_refused(
    server: RunningServer, oidc: Oidc, phone: Phone
) -> None:
    c = await open_counter(server)
    link = await qr(c)
    # the applicant walked away from the kiosk with the QR code still on the phone
    await store.update_session(server.db, c.session_id, state="ended", ended_at=utcnow())
    page = await phone.open(link["url"])
    assert page.outcome == "refused:eid_session_ended", page.html
    assert await refused_codes(server, c.session_id) == ["eid_session_ended"]
    assert (await panel_events(server, c.session_id)) == []


async def panel_events(server: RunningServer, session_id: str) -> list[str]:
    return [
        e.kind for e in await AuditLog(server.db).events(session_id) if e.kind == "identity.result"
    ]
