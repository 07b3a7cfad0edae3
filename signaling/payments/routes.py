"""The payment endpoints: the provider's notifications, and the kiosk's order and QR.

``POST /api/payments/notify/<provider>``: public (the provider calls it), so everything in
it is checked before anything is believed (:meth:`Payments.notification`); a refused one is
logged with its reason and answered ``FAIL`` without saying more. The kiosk's routes take
its device token: ``POST /api/sessions/<id>/payment`` asks for the order to show (a new one
after a failed or expired one), ``POST .../payment/<payment_id>/shown`` records that its QR
code is on screen. After every change the kiosk that shows the order and the clerk in the
call are told (``payment`` and ``application``); a paid submission fee completes the
submission (acceptance number, sealed application, receipt).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Literal

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from signaling.client_address import client_address
from signaling.errors import NotYourSession
from signaling.http_auth import body_as, terminal_of
from signaling.keys import DATABASE, SETTINGS
from signaling.logs import context_log
from signaling.paperwork.errors import NotReady
from signaling.paperwork.messages import PaperEvent
from signaling.paperwork.routes import _handled, _json, emit, notify_application, paperwork
from signaling.payments import service as pay
from signaling.payments import signatures as sig
from signaling.payments.errors import (
    NotificationRefused,
    PaymentConfigError,
    PaymentNotDue,
    PaymentUnavailable,
)
from signaling.payments.keys import PAYMENTS
from signaling.payments.messages import PaymentAsk
from signaling.payments.provider import HttpProvider
from signaling.payments.service import Payments
from signaling.payments.wire import Ack
from signaling.settings import Settings
from signaling.throttle import RateLimit
from storage.db import Database
from storage.payments import PaymentRecord, PaymentState

log = logging.getLogger(__name__)

NOTIFY_LIMIT = web.AppKey("payments_notify_limit", RateLimit)
# how often the codes of calls that ended unpaid are closed at the provider
CLOSE_ROUND_S = 2.0
MAX_NOTIFICATION_BYTES = 64 * 1024


def _ack(code: Literal["SUCCESS", "FAIL"], message: str = "", status: int = 200) -> web.Response:
    return web.json_response(Ack(code=code, message=message).model_dump(), status=status)


def _payments(request: web.Request) -> Payments:
    payments = request.app.get(PAYMENTS)
    if payments is None:
        raise PaymentUnavailable(
            "this server takes no payments (payments_url is not set); ask the clerk"
        )
    return payments


async def changed(request: web.Request, record: PaymentRecord, old: PaymentState) -> None:
    """Tell the kiosk and the clerk; a newly paid submission fee completes the submission."""
    work = paperwork(request)
    if record.terminal_id is not None:
        await emit(request, PaperEvent.PAYMENT, pay.view(record), terminal=record.terminal_id)
    await notify_application(request, work, record.session_id)
    if record.state != PaymentState.PAID or old == PaymentState.PAID:
        return
    if record.purpose == "submission":
        try:
            await work.complete_submission(record.session_id, "server")
        except NotReady as exc:
            # a new form was shown meanwhile: its signature will find the fee paid
            context_log(log, record.session_id, "server").info(
                "fee paid, submission waits for a signature: %s", exc.message
            )
            return
        await notify_application(request, work, record.session_id)


async def notify(request: web.Request) -> web.Response:
    """The provider's asynchronous notification of an order (paid, failed, closed, refunded)."""
    address = client_address(request, request.app[SETTINGS])
    if request.app[NOTIFY_LIMIT].take(address) > 0:
        return _ack("FAIL", "too many notifications", 429)
    payments = request.app.get(PAYMENTS)
    if payments is None or request.match_info["provider"] != payments.provider.name:
        return _ack("FAIL", "unknown provider", 404)
    if (request.content_length or 0) > MAX_NOTIFICATION_BYTES:
        return _ack("FAIL", "too large", 413)
    body = (await request.read())[:MAX_NOTIFICATION_BYTES].decode("utf-8", "replace")
    try:
        record, old = await payments.notification(dict(request.headers), body)
    except NotificationRefused as exc:
        log.warning(
            "payment notification refused (%s) from %s: %s", exc.reason, address, exc.message,
            extra={"reason": exc.reason, "address": address, "provider": payments.provider.name,
                   "role": f"provider:{payments.provider.name}"},
        )  # fmt: skip
        # the same answer whatever was wrong: a prober learns nothing about our orders
        return _ack("FAIL", "notification refused", 401 if exc.reason != "unknown_order" else 404)
    context_log(log, record.session_id, f"provider:{payments.provider.name}").info(
        "payment %s notification: %s -> %s", record.id, old, record.state
    )
    if old != record.state:
        await changed(request, record, old)
    return _ack("SUCCESS")


@_handled
async def ask(request: web.Request) -> web.Response:
    """The kiosk asks for the order to show for the session's fee."""
    terminal = await terminal_of(request)
    session_id = request.match_info["session_id"]
    body = body_as(PaymentAsk, await request.read())
    payments = _payments(request)
    work = paperwork(request)
    loaded = await work.load(session_id)
    fee = pay.fee_due(loaded.service, body.purpose)
    if fee is None:
        raise PaymentNotDue(
            f"{loaded.service.id} has no fee due for the {body.purpose}; nothing to pay"
        )
    if body.purpose == "submission" and loaded.row.terminal_id != terminal.id:
        raise NotYourSession(f"session {session_id} is not this kiosk's")
    if body.purpose == "result" and (
        loaded.app.state != "approved"
        # only a kiosk given the result's order (after the ID re-check) asks for a new one
        or not any(p.purpose == "result" and p.terminal_id == terminal.id for p in loaded.payments)
    ):
        raise NotYourSession(
            f"look the application of session {session_id} up by its acceptance number first"
        )
    record = await payments.settled(session_id, body.purpose) or await payments.order(
        session_id, body.purpose, fee, loaded.service.names.get("en"), work.base_url, terminal.id
    )
    await notify_application(request, work, session_id)
    return _json(pay.view(record))


@_handled
async def shown(request: web.Request) -> web.Response:
    """The kiosk shows the order's QR code: a ``payment.qr_shown`` event in the chain."""
    terminal = await terminal_of(request)
    payments = _payments(request)
    record = await payments.shown(
        request.match_info["payment_id"], request.match_info["session_id"], terminal.id
    )
    return web.json_response({"recorded": record.id}, status=201)


def make_payments(settings: Settings, db: Database) -> Payments | None:
    """The server's payments from settings; None when ``payments_url`` is not set."""
    if settings.payments_url is None:
        return None
    if settings.payments_provider_public_key is None:
        raise PaymentConfigError(
            "payments_url is set but payments_provider_public_key is not; pin the provider's"
            " public key (PEM) from its merchant portal"
        )
    provider = HttpProvider(
        settings.payments_provider, settings.payments_url, settings.payments_merchant_id,
        sig.load_or_create_key(settings.payments_merchant_key_path),
        sig.load_public_key(settings.payments_provider_public_key),
    )  # fmt: skip
    return Payments(
        db, provider, settings.payments_merchant_id, settings.payments_order_ttl_s,
        settings.payments_notify_window_s,
    )  # fmt: skip


async def _close_abandoned(payments: Payments) -> None:
    """Every :data:`CLOSE_ROUND_S`: an applicant who left with the code unpaid cannot pay it
    later (every process does it; a second close changes nothing)."""
    while True:
        await asyncio.sleep(CLOSE_ROUND_S)
        try:
            for record in await payments.close_abandoned():
                context_log(log, record.session_id, "server").info(
                    "payment %s closed: the call ended unpaid", record.id
                )
        except (OSError, SQLAlchemyError) as exc:  # the database is away: the next round
            log.warning("closing unpaid codes of ended calls failed: %s", exc)


def setup_payments(app: web.Application) -> None:
    """Mount the notify endpoint and the kiosk's payment routes; the provider client lives
    as long as the app (after the database, which it uses)."""
    settings = app[SETTINGS]
    app[NOTIFY_LIMIT] = RateLimit(600, burst=100)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        payments = make_payments(settings, app[DATABASE])
        if payments is None:
            yield
            return
        app[PAYMENTS] = payments
        closer = asyncio.create_task(_close_abandoned(payments), name="payments-closer")
        yield
        closer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await closer
        await payments.provider.close()

    app.cleanup_ctx.append(lifetime)
    sid = "{session_id:[0-9a-f]{32}}"
    app.router.add_post("/api/payments/notify/{provider}", notify)
    app.router.add_post(f"/api/sessions/{sid}/payment", ask)
    app.router.add_post(f"/api/sessions/{sid}/payment/{{payment_id:[0-9a-f]{{32}}}}/shown", shown)
