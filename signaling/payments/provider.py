"""The payment provider interface, and its one implementation: a signed HTTP JSON API.

:class:`PaymentProvider` is what the server needs of any QR-payment provider (WeChat Pay,
Alipay, MPay work this way): create an order under an idempotency key (a retried create
returns the same order), query it, refund it, fetch a date's settlement file; the provider
tells us of payments by signed notifications (:mod:`.service`). :class:`HttpProvider`
speaks the protocol of :mod:`.wire` with :mod:`.signatures`; the sandbox serves it.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import date
from typing import Protocol, TypeVar

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ValidationError

from signaling.payments import signatures as sig
from signaling.payments.errors import BadSignature, PaymentUnavailable, ProviderRefused
from signaling.payments.wire import (
    CreateOrder,
    CreateRefund,
    Order,
    ProviderErrorBody,
    Refund,
    SettlementLine,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class PaymentProvider(Protocol):
    """What the server asks of a payment provider."""

    name: str
    public_key: Ed25519PublicKey  # verifies its notifications

    async def create_order(self, key: str, order: CreateOrder) -> Order: ...

    async def query_order(self, out_trade_no: str) -> Order: ...

    async def close_order(self, out_trade_no: str) -> Order: ...

    async def refund(self, refund: CreateRefund) -> Refund: ...

    async def settlement(self, day: date) -> list[SettlementLine]: ...

    async def close(self) -> None: ...


class HttpProvider:
    """A provider reached over HTTPS with merchant-signed requests and signed responses."""

    def __init__(
        self,
        name: str,
        base_url: str,
        merchant: str,
        merchant_key: Ed25519PrivateKey,
        public_key: Ed25519PublicKey,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.merchant = merchant
        self.merchant_key = merchant_key
        self.public_key = public_key
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))

    async def close(self) -> None:
        await self._http.close()

    async def _call(
        self, method: str, path: str, body: BaseModel | None, headers: dict[str, str] | None = None
    ) -> tuple[str, dict[str, str]]:
        text = body.model_dump_json() if body is not None else ""
        sent = {
            "Authorization": sig.authorization(
                self.merchant_key, self.merchant, method, path, text
            ),
            "Content-Type": "application/json",
            **(headers or {}),
        }
        try:
            async with self._http.request(
                method, f"{self.base_url}{path}", data=text or None, headers=sent
            ) as r:
                answer = await r.text()
                received = dict(r.headers)
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PaymentUnavailable(
                f"the payment provider {self.name} at {self.base_url} did not answer ({exc});"
                " try again in a moment"
            ) from exc
        if status >= 400:
            try:
                error = ProviderErrorBody.model_validate_json(answer)
            except ValidationError:
                error = ProviderErrorBody(code=f"HTTP_{status}", message=answer[:200])
            raise ProviderRefused(
                f"the payment provider {self.name} refused {method} {path}: {error.code}"
                f" ({error.message})", error.code,
            )  # fmt: skip
        return answer, received

    async def _signed(
        self, model: type[M], method: str, path: str, body: BaseModel | None,
        headers: dict[str, str] | None = None,
    ) -> M:  # fmt: skip
        answer, received = await self._call(method, path, body, headers)
        self._check(answer, received, method, path)
        return model.model_validate_json(answer)

    def _check(self, answer: str, received: dict[str, str], method: str, path: str) -> None:
        try:
            sig.check_body(self.public_key, sig.body_stamp(received), answer)
        except BadSignature as exc:
            log.error("provider %s: response to %s %s not signed by its pinned key: %s",
                      self.name, method, path, exc.message)  # fmt: skip
            raise PaymentUnavailable(
                f"the answer of payment provider {self.name} is not signed by its pinned key;"
                " check payments_provider_public_key"
            ) from exc

    async def create_order(self, key: str, order: CreateOrder) -> Order:
        """Create (or, with the same ``key``, find again) the order."""
        return await self._signed(Order, "POST", "/v3/orders", order, {"Idempotency-Key": key})

    async def query_order(self, out_trade_no: str) -> Order:
        return await self._signed(Order, "GET", f"/v3/orders/{out_trade_no}", None)

    async def close_order(self, out_trade_no: str) -> Order:
        """Make an unpaid order unpayable; the order as it stands after (paid if the payer
        was quicker)."""
        return await self._signed(Order, "POST", f"/v3/orders/{out_trade_no}/close", None)

    async def refund(self, refund: CreateRefund) -> Refund:
        return await self._signed(Refund, "POST", "/v3/refunds", refund)

    async def settlement(self, day: date) -> list[SettlementLine]:
        """The provider's settlement file of ``day`` (UTC), parsed."""
        path = f"/v3/settlements/{day.isoformat()}.csv"
        text, received = await self._call("GET", path, None)
        self._check(text, received, "GET", path)
        return parse_settlement(text)


def parse_settlement(text: str) -> list[SettlementLine]:
    """A settlement CSV as lines; :class:`ProviderRefused` naming the first bad line."""
    lines = []
    for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            lines.append(SettlementLine.model_validate(row))
        except ValidationError as exc:
            raise ProviderRefused(
                f"line {number} of the settlement file is not valid: {exc.errors()[0]['msg']}"
            ) from exc
    return lines
