"""A payment provider sandbox: its own HTTP service that behaves like a QR-payment provider.

Run it as ``python -m signaling.payments.sandbox --port 8091 --key DIR/provider.pem
--merchant-key DIR/merchant.pem.pub``. It checks every merchant request's signature, keeps
orders in memory, gives each a code URL whose page plays the payer's phone ("Pay" /
"Decline"), closes orders at their expiry, and POSTs a signed notification to the order's
notify URL on pay, decline and expiry, retrying until the merchant answers ``SUCCESS``
(so duplicates happen, as with the real ones). Refunds are immediate; ``GET
/v3/settlements/DATE.csv`` lists what was settled that UTC date.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import hashlib
import io
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from signaling import sandboxes
from signaling.payments import signatures as sig
from signaling.payments.errors import BadSignature
from signaling.payments.wire import (
    SETTLEMENT_COLUMNS,
    Ack,
    CreateOrder,
    CreateRefund,
    EventType,
    Notification,
    Order,
    ProviderErrorBody,
    Refund,
)

log = logging.getLogger(__name__)

# after a failed delivery: wait this long, then the next, ... (the last repeats)
RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0, 15.0)
MAX_DELIVERIES = 30
# how far a merchant's request timestamp may be from the sandbox's clock
REQUEST_WINDOW_S = 300


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Entry:
    order: Order
    notify_url: str
    token: str  # the code URL's secret: an order id alone does not open the payer's page
    request_hash: str
    events: list[tuple[str, datetime]] = field(default_factory=list)  # settlement lines


class Sandbox:
    """The sandbox's state and behaviour; :meth:`app` serves it."""

    def __init__(
        self, key: Ed25519PrivateKey, merchants: dict[str, Ed25519PublicKey], base_url: str = ""
    ) -> None:
        self.key = key
        self.merchants = merchants
        self.base_url = base_url.rstrip("/")
        self.orders: dict[str, _Entry] = {}
        self.by_key: dict[str, str] = {}  # idempotency key -> out_trade_no
        self.refunds: dict[str, Refund] = {}  # out_refund_no -> refund
        self.nonces: dict[str, float] = {}  # merchant request nonces inside the window
        self.deliveries = 0  # notification POSTs attempted (tests watch duplicates)
        # how far the sandbox's clock is ahead of the real one (advance(): expiry in tests)
        self.offset = timedelta(0)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None

    def now(self) -> datetime:
        return _now() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the sandbox's clock on (orders expire as if that much time had passed)."""
        self.offset += timedelta(seconds=seconds)

    @property
    def delivering(self) -> int:
        """Notifications not yet acknowledged (still being retried)."""
        return len(self._tasks)

    # ------------------------------------------------------------------ merchant API

    async def _authorised(self, request: web.Request) -> str:
        body = await request.text()
        try:
            auth = sig.parse_authorization(request.headers.get("Authorization", ""))
            key = self.merchants.get(auth.merchant)
            if key is None:
                raise BadSignature(f"unknown merchant {auth.merchant!r}")
            if abs(auth.stamp.timestamp - _now().timestamp()) > REQUEST_WINDOW_S:
                raise BadSignature("the request's timestamp is outside the 5-minute window")
            sig.check_request(key, auth, request.method, request.path_qs, body)
            now = _now().timestamp()
            self.nonces = {n: t for n, t in self.nonces.items() if t > now - REQUEST_WINDOW_S}
            if auth.stamp.nonce in self.nonces:
                raise BadSignature("this request's nonce was used before (a replay)")
            self.nonces[auth.stamp.nonce] = now
        except BadSignature as exc:
            raise self._error(web.HTTPUnauthorized, "SIGN_ERROR", exc.message) from exc
        return body

    def _error(self, kind: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
        body = ProviderErrorBody(code=code, message=message).model_dump_json()
        return kind(
            text=body, content_type="application/json", headers=sig.sign_body(self.key, body)
        )

    def _json(self, model: Order | Refund, status: int = 200) -> web.Response:
        body = model.model_dump_json()
        return web.Response(
            text=body, status=status, content_type="application/json",
            headers=sig.sign_body(self.key, body),
        )  # fmt: skip

    async def create_order(self, request: web.Request) -> web.Response:
        body = await self._authorised(request)
        key = request.headers.get("Idempotency-Key", "")
        if not 8 <= len(key) <= 64:
            raise self._error(web.HTTPBadRequest, "PARAM_ERROR", "Idempotency-Key is required")
        try:
            create = CreateOrder.model_validate_json(body)
        except ValidationError as exc:
            raise self._error(
                web.HTTPBadRequest, "PARAM_ERROR", str(exc.errors()[0]["msg"])
            ) from exc
        digest = hashlib.sha256(body.encode()).hexdigest()
        if (known := self.by_key.get(key)) is not None:
            entry = self.orders[known]
            if entry.request_hash != digest:
                raise self._error(
                    web.HTTPConflict, "IDEMPOTENCY_MISMATCH",
                    "this Idempotency-Key was used with a different order",
                )  # fmt: skip
            return self._json(entry.order)  # a retried create: the same order
        if create.out_trade_no in self.orders:
            raise self._error(web.HTTPConflict, "DUPLICATE_OUT_TRADE_NO", "out_trade_no is taken")
        order_id = f"SB{secrets.token_hex(12)}"
        token = secrets.token_urlsafe(16)
        now = self.now()
        order = Order(
            out_trade_no=create.out_trade_no, order_id=order_id, amount=create.amount,
            state="open", code_url=f"{self.base_url}/pay/{order_id}?t={token}", created_at=now,
            expires_at=now + timedelta(seconds=create.expire_s),
        )  # fmt: skip
        self.orders[create.out_trade_no] = _Entry(order, create.notify_url, token, digest)
        self.by_key[key] = create.out_trade_no
        log.info("order %s created (%s)", order_id, create.out_trade_no)
        return self._json(order, 201)

    async def query_order(self, request: web.Request) -> web.Response:
        await self._authorised(request)
        entry = self.orders.get(request.match_info["out_trade_no"])
        if entry is None:
            raise self._error(web.HTTPNotFound, "ORDER_NOT_EXIST", "no such order")
        return self._json(self._expire(entry).order)

    async def close_order(self, request: web.Request) -> web.Response:
        """An open order is closed (its code no longer pays, a notification says so); any
        other is answered as it stands, as the real providers do for a paid order."""
        await self._authorised(request)
        entry = self.orders.get(request.match_info["out_trade_no"])
        if entry is None:
            raise self._error(web.HTTPNotFound, "ORDER_NOT_EXIST", "no such order")
        if self._expire(entry).order.state == "open":
            entry.order = entry.order.model_copy(update={"state": "closed"})
            self._notify(entry, "TRANSACTION.CLOSED")
            log.info("order %s closed by the merchant", entry.order.order_id)
        return self._json(entry.order)

    async def refund(self, request: web.Request) -> web.Response:
        body = await self._authorised(request)
        try:
            create = CreateRefund.model_validate_json(body)
        except ValidationError as exc:
            raise self._error(
                web.HTTPBadRequest, "PARAM_ERROR", str(exc.errors()[0]["msg"])
            ) from exc
        if (done := self.refunds.get(create.out_refund_no)) is not None:
            return self._json(done)
        entry = self.orders.get(create.out_trade_no)
        if entry is None:
            raise self._error(web.HTTPNotFound, "ORDER_NOT_EXIST", "no such order")
        if entry.order.state != "paid":
            raise self._error(
                web.HTTPConflict, "ORDER_NOT_PAID", f"the order is {entry.order.state}, not paid"
            )
        if create.amount != entry.order.amount:
            raise self._error(
                web.HTTPBadRequest, "AMOUNT_MISMATCH", "a refund is of the whole paid amount"
            )
        refund = Refund(
            out_trade_no=create.out_trade_no, out_refund_no=create.out_refund_no,
            refund_id=f"RF{secrets.token_hex(12)}", amount=create.amount, state="succeeded",
            at=_now(),
        )  # fmt: skip
        self.refunds[create.out_refund_no] = refund
        entry.order = entry.order.model_copy(
            update={"state": "refunded", "refund_id": refund.refund_id,
                    "refunded": create.amount.total}
        )  # fmt: skip
        entry.events.append(("refund", refund.at))
        self._notify(entry, "REFUND.SUCCESS")
        return self._json(refund)

    async def settlement(self, request: web.Request) -> web.Response:
        await self._authorised(request)
        text = self.settlement_csv(request.match_info["date"])
        return web.Response(
            text=text, content_type="text/csv", charset="utf-8",
            headers=sig.sign_body(self.key, text),
        )  # fmt: skip

    def settlement_csv(self, day: str) -> str:
        """The settlement file of UTC date ``day`` (YYYY-MM-DD): payments and refunds."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(SETTLEMENT_COLUMNS)
        for entry in self.orders.values():
            o = entry.order
            for kind, at in entry.events:
                if at.date().isoformat() != day:
                    continue
                refund = next(
                    (r for r in self.refunds.values() if r.out_trade_no == o.out_trade_no), None
                )
                writer.writerow([
                    day, kind, o.out_trade_no, o.order_id, o.transaction_id or "",
                    refund.out_refund_no if kind == "refund" and refund else "",
                    o.amount.total, o.amount.currency,
                    "refunded" if kind == "refund" else "paid", at.isoformat(),
                ])  # fmt: skip
        return out.getvalue()

    # ------------------------------------------------------------------ the payer's phone

    def _payer_entry(self, request: web.Request) -> _Entry:
        order_id = request.match_info["order_id"]
        entry = next((e for e in self.orders.values() if e.order.order_id == order_id), None)
        token = request.query.get("t", "")
        if entry is None or not secrets.compare_digest(entry.token, token):
            raise web.HTTPNotFound(text="This payment code is not valid.")
        return self._expire(entry)

    async def payer_page(self, request: web.Request) -> web.Response:
        self._payer_entry(request)
        page = resources.files("signaling.payments").joinpath("static", "payer.html")
        return web.Response(text=page.read_text(encoding="utf-8"), content_type="text/html")

    async def payer_order(self, request: web.Request) -> web.Response:
        o = self._payer_entry(request).order
        return web.json_response({
            "order_id": o.order_id, "state": o.state, "amount": o.amount.total,
            "currency": o.amount.currency, "expires_at": o.expires_at.isoformat(),
        })  # fmt: skip

    async def payer_action(self, request: web.Request) -> web.Response:
        entry = self._payer_entry(request)
        action = request.match_info["action"]
        if entry.order.state != "open":
            return web.json_response({"state": entry.order.state}, status=409)
        now = self.now()
        if action == "pay":
            entry.order = entry.order.model_copy(
                update={"state": "paid", "paid_at": now,
                        "transaction_id": f"TX{secrets.token_hex(12)}"}
            )  # fmt: skip
            entry.events.append(("payment", now))
            self._notify(entry, "TRANSACTION.SUCCESS")
        else:
            entry.order = entry.order.model_copy(update={"state": "failed"})
            self._notify(entry, "TRANSACTION.FAILED")
        log.info("order %s %s by the payer", entry.order.order_id, entry.order.state)
        return web.json_response({"state": entry.order.state})

    # ------------------------------------------------------------------ expiry and notices

    def _expire(self, entry: _Entry) -> _Entry:
        if entry.order.state == "open" and self.now() >= entry.order.expires_at:
            entry.order = entry.order.model_copy(update={"state": "expired"})
            self._notify(entry, "TRANSACTION.CLOSED")
        return entry

    async def _expiry_loop(self) -> None:
        while True:
            for entry in list(self.orders.values()):
                self._expire(entry)
            await asyncio.sleep(0.2)

    def _notify(self, entry: _Entry, event: EventType) -> None:
        notice = Notification(
            id=secrets.token_hex(16),
            event_type=event,
            created_at=self.now(),
            resource=entry.order,
        )
        task = asyncio.get_running_loop().create_task(self._deliver(entry.notify_url, notice))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, notice: Notification) -> None:
        """POST until the merchant answers 200 ``SUCCESS``; each attempt signed afresh."""
        assert self._http is not None
        body = notice.model_dump_json()
        for attempt in range(MAX_DELIVERIES):
            self.deliveries += 1
            headers = {"Content-Type": "application/json", **sig.sign_body(self.key, body)}
            try:
                async with self._http.post(url, data=body, headers=headers) as r:
                    text = await r.text()
                    if r.status == 200 and Ack.model_validate_json(text).code == "SUCCESS":
                        return
                    log.info("notification %s refused (%s): %s", notice.id, r.status, text[:200])
            except (aiohttp.ClientError, TimeoutError, ValidationError) as exc:
                log.info("notification %s not delivered: %s", notice.id, exc)
            await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
        log.warning("notification %s given up after %d attempts", notice.id, MAX_DELIVERIES)

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        expiry = asyncio.get_running_loop().create_task(self._expiry_loop())
        yield
        expiry.cancel()
        for task in [expiry, *self._tasks]:
            task.cancel()
        await asyncio.gather(expiry, *self._tasks, return_exceptions=True)
        await self._http.close()

    def app(self) -> web.Application:
        """The sandbox as an aiohttp application."""
        app = web.Application()
        app.cleanup_ctx.append(self._lifetime)
        app.router.add_post("/v3/orders", self.create_order)
        app.router.add_get("/v3/orders/{out_trade_no}", self.query_order)
        app.router.add_post("/v3/orders/{out_trade_no}/close", self.close_order)
        app.router.add_post("/v3/refunds", self.refund)
        app.router.add_get(r"/v3/settlements/{date:\d{4}-\d{2}-\d{2}}.csv", self.settlement)
        app.router.add_get("/pay/{order_id}", self.payer_page)
        app.router.add_get("/pay/{order_id}/order", self.payer_order)
        app.router.add_post("/pay/{order_id}/{action:pay|decline}", self.payer_action)
        return app


@contextlib.asynccontextmanager
async def sandbox_process(
    provider_key: Path, merchant_key: Path, merchant: str = "vcounter", port: int = 0
) -> AsyncIterator[str]:
    """Run the sandbox as its own process (``./run demo``, the benchmark) trusting the
    merchant key at ``merchant_key`` (made if missing); yields its URL once it answers."""
    sig.load_or_create_key(merchant_key)
    args = ["--key", str(provider_key), "--merchant", merchant,
            "--merchant-key", str(sig.public_path(merchant_key))]  # fmt: skip
    async with sandboxes.sandbox_process(
        "signaling.payments.sandbox", args, port=port or sandboxes.free_port(),
        probe="/pay/none", ready_status=404, key=sig.public_path(provider_key),
        what="payment sandbox",
    ) as url:  # fmt: skip
        yield url


def main(argv: list[str] | None = None) -> None:
    """``python -m signaling.payments.sandbox``: serve the sandbox until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m signaling.payments.sandbox",
        description="A QR-payment provider sandbox with a payer's page (Pay / Decline).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument(
        "--public-url", help="the URL payers' phones reach (default: http://HOST:PORT)"
    )
    parser.add_argument("--key", type=Path, required=True,
                        help="the sandbox's Ed25519 key (PEM; made if missing, public half at KEY.pub)")  # fmt: skip
    parser.add_argument("--merchant", default="vcounter", help="the merchant id it accepts")
    parser.add_argument("--merchant-key", type=Path, required=True,
                        help="that merchant's public key (PEM): vcounter's payments_merchant_key.pub")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    base = args.public_url or f"http://{args.host}:{args.port}"
    sandbox = Sandbox(
        sig.load_or_create_key(args.key),
        {args.merchant: sig.load_public_key(args.merchant_key)},
        base,
    )
    web.run_app(sandbox.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
