"""e-ID routes: the kiosk asks for a QR code, the phone follows it to the provider and back.

- ``GET /api/eid/providers`` (a kiosk, device token): the providers configured.
- ``POST /api/sessions/{id}/eid`` (the session's kiosk): an :class:`EidStart`; a new attempt
  (state, nonce and PKCE verifier kept in the store) and its short link as a QR code.
- ``GET /eid/{link}`` (public, the phone): single use; redirects to the provider's sign-in.
- ``GET /eid/callback`` (public, the phone, sent by the provider): the answer is taken once
  (a replayed ``state`` finds it taken), the code exchanged, the ID token checked; the
  identity goes into the chain as an ``identity.result`` with ``eid`` evidence, the clerk's
  panel and the kiosk are told, and the phone shows "Done — go back to the kiosk".

Every refusal is a sentence on the phone and the kiosk, a log line and a chain event
(``eid.refused`` with its code); nothing already recorded is touched. The public routes are
rate-limited per address.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
import segno
from aiohttp import web

from signaling.access import is_live
from signaling.client_address import client_address
from signaling.directions import kiosk_scope
from signaling.eid import phone_page
from signaling.eid.errors import AttemptRefused, EidError, ProviderDenied
from signaling.eid.evidence import RESULT_EVENT, evidence_of, result_payload
from signaling.eid.oidc import IdentityProvider, OidcProvider, challenge_of, pkce_pair
from signaling.guard import too_many
from signaling.http_auth import body_as, http_error, terminal_of
from signaling.identity import announce
from signaling.keys import DATABASE, ROUTER, SETTINGS
from signaling.logs import context_log
from signaling.messages import (
    EidLink,
    EidProviderInfo,
    EidStart,
    EidStatus,
    Event,
    Role,
)
from signaling.own_session import kiosk_session
from signaling.public_pages import ASSET_HEADERS, STATIC
from signaling.public_url import public_base
from signaling.rooms import terminal_room
from signaling.throttle import RateLimit
from storage import eid as attempts
from storage.eid import AttemptConflict, AttemptRecord, AttemptState
from storage.errors import NotFound
from storage.models import CallSession
from storage.self_service import STATE as SELF_SERVICE
from storage.store import get_session

log = logging.getLogger(__name__)

EID_PROVIDERS = web.AppKey("eid_providers", dict[str, IdentityProvider])
EID_LIMIT = web.AppKey("eid_limit", RateLimit)
CALLBACK_PATH = "/eid/callback"
_SESSION = r"{session_id:[0-9a-f]{32}}"
A = AttemptState


def callback_url(request: web.Request) -> str:
    """The redirect URI registered with every provider: our configured address only."""
    return f"{public_base(request)}{CALLBACK_PATH}"


async def list_providers(request: web.Request) -> web.Response:
    """The configured providers, for the kiosk's "Sign in with ..." buttons."""
    terminal = await terminal_of(request)
    where = (await kiosk_scope(request.app[DATABASE], terminal.id)).jurisdiction
    infos = [
        EidProviderInfo(
            id=p.settings.id, name_zh_hant=p.settings.name_zh_hant,
            name_zh_hans=p.settings.name_zh_hans, name_en=p.settings.name_en,
        ).model_dump(mode="json")
        for p in request.app[EID_PROVIDERS].values()
        if p.settings.offered_in(where)
    ]  # fmt: skip
    return web.json_response(infos)


async def start(request: web.Request) -> web.Response:
    """A new sign-in attempt for the kiosk's live session, and its QR code."""
    row, terminal = await kiosk_session(request, "sign in only your own applicant")
    body = body_as(EidStart, await request.read())
    configured = request.app[EID_PROVIDERS]
    provider = configured.get(body.provider)
    if provider is None:
        known = ", ".join(sorted(configured.keys())) or "none is configured"
        raise http_error(
            web.HTTPNotFound, "unknown_provider",
            f"there is no e-ID provider {body.provider!r} (configured: {known})",
        )  # fmt: skip
    where = (await kiosk_scope(request.app[DATABASE], terminal.id)).jurisdiction
    if not provider.settings.offered_in(where):
        raise http_error(
            web.HTTPForbidden, "provider_not_here",
            f"e-ID provider {body.provider!r} serves residents of"
            f" {', '.join(provider.settings.jurisdictions)}; this kiosk stands in {where} and"
            " does not offer it: sign in with a provider this kiosk shows, or use the ID card",
        )  # fmt: skip
    if not _signs_in(row):
        raise http_error(
            web.HTTPConflict, "session_not_active",
            f"session {row.id} is not in a call or a self-service session (it is {row.state});"
            " e-ID sign-in is during one only",
        )  # fmt: skip
    actor = f"terminal:{terminal.id}"
    try:
        # the provider must answer now: better the kiosk says so than the phone later
        await provider.check()
    except EidError as exc:
        context_log(log, row.id, "kiosk").warning("e-ID provider unusable: %s", exc.message)
        raise http_error(web.HTTPBadGateway, exc.code, exc.message) from exc
    verifier, _ = pkce_pair()
    ttl = request.app[SETTINGS].eid_attempt_ttl_s
    record = await attempts.begin(
        request.app[DATABASE], row.id, terminal.id, provider.settings.id, body.language,
        verifier, ttl, actor,
    )  # fmt: skip
    url = f"{public_base(request)}/eid/{record.link}"
    # the quiet zone the QR standard asks for (4 modules): a phone held at an angle to a
    # kiosk screen finds the code by it
    qr = segno.make(url, error="m").svg_data_uri(scale=6, border=4)
    context_log(log, row.id, "kiosk").info(
        "e-ID attempt %s with %s shown as a QR code", record.id, provider.settings.id
    )
    link = EidLink(attempt_id=record.id, provider=record.provider, url=url, qr=qr, expires_in_s=ttl)
    return web.json_response(link.model_dump(mode="json"), status=201)


def _signs_in(row: CallSession) -> bool:
    """Whether the session may take an e-ID sign-in now: a call going on, or a service
    without a clerk still waiting for its identity check (signaling/self_service)."""
    return is_live(row) or (row.ended_at is None and row.state == SELF_SERVICE)


def _limit(request: web.Request) -> float:
    return request.app[EID_LIMIT].take(client_address(request, request.app[SETTINGS]))


async def _tell_kiosk(app: web.Application, record: AttemptRecord, status: EidStatus) -> None:
    await app[ROUTER].emitter.to_room(
        Role.TERMINAL, terminal_room(record.terminal_id), Event.EID, status
    )


async def _expire(app: web.Application, record: AttemptRecord) -> None:
    try:
        await attempts.move(app[DATABASE], record.id, A.EXPIRED, "server:eid")
    except AttemptConflict:
        return  # ended meanwhile
    context_log(log, record.session_id, "phone").info("e-ID attempt %s expired", record.id)
    await _tell_kiosk(
        app, record,
        EidStatus(session_id=record.session_id, attempt_id=record.id, state="expired",
                  code="eid_attempt_expired", message="the QR code has expired"),
    )  # fmt: skip


async def open_link(request: web.Request) -> web.StreamResponse:
    """The phone followed the QR code: once only, to the provider's sign-in page."""
    wait = _limit(request)
    if wait > 0:
        raise await too_many(request, wait, f"too many sign-in requests; wait {wait:.0f} s")
    try:
        record = await attempts.by_link(request.app[DATABASE], request.match_info["link"])
    except NotFound:
        return phone_page.page("eid_unknown_attempt", None, 404)
    db = request.app[DATABASE]
    if record.status == A.STARTED and record.expired():
        await _expire(request.app, record)
        return phone_page.page("eid_attempt_expired", record.language, 410)
    if record.status != A.STARTED:
        await _note(app=request.app, record=record, extra={"code": "eid_link_used"})
        context_log(log, record.session_id, "phone").warning(
            "e-ID link of attempt %s opened again (it is %s)", record.id, record.status
        )
        key = "eid_attempt_expired" if record.status == A.EXPIRED else "eid_link_used"
        return phone_page.page(key, record.language, 410)
    provider = request.app[EID_PROVIDERS].get(record.provider)
    if provider is None:
        return phone_page.page(
            "other", record.language, 410, "the provider is no longer configured"
        )
    if not _signs_in(await get_session(db, record.session_id)):
        # the applicant left the kiosk: no sign-in for a call that is over
        return await _refuse(
            request.app, record,
            EidError("the kiosk's session has ended; nothing was recorded", "eid_session_ended"),
        )  # fmt: skip
    try:
        target = await provider.authorization_url(
            callback_url(request), record.state, record.nonce, challenge_of(record.verifier),
            record.language,
        )  # fmt: skip
        record = await attempts.move(db, record.id, A.OPENED, "phone")
    except EidError as exc:
        return phone_page.page("other", record.language, 502, exc.message)
    except AttemptConflict:
        return phone_page.page("eid_link_used", record.language, 410)
    await _tell_kiosk(
        request.app, record,
        EidStatus(session_id=record.session_id, attempt_id=record.id, state="opened"),
    )  # fmt: skip
    raise web.HTTPFound(
        target, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


async def _note(app: web.Application, record: AttemptRecord, extra: dict[str, str]) -> None:
    """A refused reuse of the attempt, in the chain while the call lasts (a closed session's
    chain is not added to by a stranger's request; the log has it either way)."""
    if _signs_in(await get_session(app[DATABASE], record.session_id)):
        await attempts.note(app[DATABASE], record, "eid.refused", "phone", extra)


async def _refuse(app: web.Application, record: AttemptRecord, exc: EidError) -> web.Response:
    """Record a refusal of the attempt (chain, log, kiosk) and say it on the phone."""
    # AttemptConflict: ended meanwhile (the kiosk asked for a new code); the refusal stands
    with contextlib.suppress(AttemptConflict):
        await attempts.move(
            app[DATABASE], record.id, A.REFUSED, "server:eid",
            {"code": exc.code, "reason": exc.message[:500]},
        )  # fmt: skip
    context_log(log, record.session_id, "phone").warning(
        "e-ID attempt %s with %s refused (%s): %s",
        record.id,
        record.provider,
        exc.code,
        exc.message,
    )
    await _tell_kiosk(
        app, record,
        EidStatus(session_id=record.session_id, attempt_id=record.id, state="refused",
                  code=exc.code, message=exc.message[:500]),
    )  # fmt: skip
    return phone_page.page(exc.code, record.language, 400, exc.message)


async def callback(request: web.Request) -> web.Response:
    """The provider's answer: taken once, checked, recorded as identity evidence."""
    wait = _limit(request)
    if wait > 0:
        raise await too_many(request, wait, f"too many sign-in requests; wait {wait:.0f} s")
    app, db, q = request.app, request.app[DATABASE], request.query
    try:
        record = await attempts.by_state(db, q.get("state", ""))
    except NotFound:
        log.warning("e-ID answer with an unknown state refused")
        return phone_page.page("eid_unknown_attempt", None, 400)
    try:
        taken = await attempts.move(db, record.id, A.EXCHANGING, "phone")
    except AttemptConflict as exc:
        if exc.current in (A.EXCHANGING, A.FINISHED, A.REFUSED):
            code, detail = "eid_replayed_state", "this answer (its state) was already used"
        elif exc.current == A.STARTED:
            code, detail = "eid_unknown_attempt", "the sign-in was never opened from its link"
        else:
            code, detail = (
                "eid_attempt_expired" if exc.current == A.EXPIRED else "eid_link_used",
                f"the attempt is {exc.current}",
            )
        await _note(app=app, record=record, extra={"code": code, "reason": detail})
        context_log(log, record.session_id, "phone").warning(
            "e-ID answer for attempt %s refused (%s): %s", record.id, code, detail
        )
        return phone_page.page(code, record.language, 409, detail)
    provider = app[EID_PROVIDERS].get(record.provider)
    try:
        if record.expired():
            raise AttemptRefused(
                "the sign-in took longer than the QR code lasts; ask the kiosk for a new one",
                "eid_attempt_expired",
            )
        if provider is None:
            raise AttemptRefused("the provider is no longer configured", "eid_unknown_attempt")
        issuer = q.get("iss")
        if issuer is not None and issuer != provider.settings.issuer:
            # RFC 9207: the answer names who sent it; a mix-up of providers stops here
            raise EidError(
                f"the answer says it comes from {issuer!r}, not from {provider.settings.issuer!r}",
                "eid_bad_issuer",
            )
        if "error" in q:
            error = q["error"][:60]
            raise ProviderDenied(
                f"the provider said {error}: {q.get('error_description', '')[:200]}",
                "eid_denied" if error == "access_denied" else "eid_provider_error",
            )
        auth_code = q.get("code")
        if not auth_code:
            raise EidError("the provider's answer has no code", "eid_bad_request")
        identity = await provider.finish(
            auth_code, callback_url(request), taken.verifier, taken.nonce
        )
        evidence = evidence_of(provider.settings, identity)
        row = await get_session(db, record.session_id)
        if not _signs_in(row):
            raise EidError(
                f"the kiosk's session ended ({row.state}) before the sign-in came back",
                "eid_session_ended",
            )
    except EidError as exc:
        return await _refuse(app, taken, exc)
    finished = await attempts.move(
        db, taken.id, A.FINISHED, f"eid:{provider.settings.id}",
        {"assurance": evidence.assurance, "subject": evidence.subject},
        also=[(RESULT_EVENT, result_payload(evidence))],
    )  # fmt: skip
    context_log(log, record.session_id, "phone").info(
        "e-ID attempt %s: %s signed in with %s (%s)",
        finished.id, evidence.subject, provider.settings.id, evidence.assurance,
    )  # fmt: skip
    await announce(app, row)
    await _tell_kiosk(
        app, finished,
        EidStatus(session_id=record.session_id, attempt_id=finished.id, state="finished",
                  assurance=evidence.assurance),
    )  # fmt: skip
    key = "done" if evidence.assurance == "strong" else "done_lower"
    return phone_page.page(key, record.language)


async def stylesheet(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "eid.css", headers=ASSET_HEADERS)


def setup_eid(app: web.Application) -> None:
    """Mount the e-ID routes and the providers' HTTP client (closed at shutdown)."""
    settings = app[SETTINGS]
    app[EID_LIMIT] = RateLimit(settings.eid_per_minute, burst=10)

    async def providers(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as http:
            built: dict[str, IdentityProvider] = {
                p.id: OidcProvider(p, http) for p in settings.eid_providers
            }
            app[EID_PROVIDERS] = built
            yield

    app.cleanup_ctx.append(providers)
    app.router.add_get("/api/eid/providers", list_providers)
    app.router.add_post(f"/api/sessions/{_SESSION}/eid", start)
    app.router.add_get(CALLBACK_PATH, callback)
    app.router.add_get("/eid/{link:[A-Za-z0-9_-]{16,64}}", open_link)
    app.router.add_get("/eid-assets/{name:eid\\.css}", stylesheet)
