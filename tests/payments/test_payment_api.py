"""Fees paid through the sandbox over the real server: order, notification, refund, expiry.

The payer's "Pay" is the sandbox page's own request (the Chromium flow presses the real
button: test_flow_in_chromium.py); everything else is the real server, store and sandbox.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from signaling.payments import signatures as sig
from signaling.payments.errors import ProviderRefused
from signaling.payments.keys import PAYMENTS
from signaling.payments.wire import Amount, CreateOrder, Notification
from storage import payments as payment_store
from storage import store
from storage.audit import AuditLog
from storage.models import Payment
from tests.conftest import RunningServer
from tests.payments.conftest import (
    RunningSandbox,
    application,
    approved_with_fee_on_approval,
    fee_counter,
    payer,
    payments_cli,
    signed_at_counter,
    wait_application,
)
from tests.sign.conftest import open_counter
from tests.signaling.test_router import wait_until


async def kinds(server: RunningServer, session_id: str) -> list[str]:
    return [e.kind for e in await AuditLog(server.db).events(session_id)]


async def test_a_fee_is_paid_before_the_acceptance_number(server: RunningServer) -> None:
    c = await fee_counter(server)
    status, signed = await signed_at_counter(c)
    # signed, but no number until the fee is paid: the order to show instead
    assert status == 202, signed
    assert signed["acceptance_number"] is None
    order = signed["payment"]
    assert order["state"] == "open" and order["amount"] == "CNY 10.00"
    assert order["amount_minor"] == 1000 and order["currency"] == "CNY"
    assert order["code_url"].startswith("http://127.0.0.1:")
    assert (await application(c))["state"] == "form_shown"
    status, _ = await c.as_kiosk(
        "POST", f"/api/sessions/{c.session_id}/payment/{order['payment_id']}/shown"
    )
    assert status == 201
    assert (await payer(order["code_url"]))["state"] == "paid"
    view = await wait_application(c, lambda v: v["state"] == "submitted", "submitted once paid")
    assert view["acceptance_number"]
    paid = view["payments"][-1]
    assert paid["state"] == "paid" and paid["transaction_id"].startswith("TX")
    events = await kinds(server, c.session_id)
    order_at, shown_at, paid_at = (events.index(k) for k in (
        "payment.order_created", "payment.qr_shown", "payment.paid"))  # fmt: skip
    assert events.index("signature.captured") < order_at < shown_at < paid_at
    assert paid_at < events.index("application.submitted")
    assert (await AuditLog(server.db).verify(c.session_id)).ok
    # the receipt says what was paid, with the provider's order and transaction
    from tests.sign.test_full_flow import pdf_text

    receipt = next(d for d in view["documents"] if d["kind"] == "receipt")
    status, pdf = await c.as_clerk("GET", receipt["url"].split(server.url, 1)[1])
    assert status == 200
    text = pdf_text(pdf)
    assert "CNY10.00" in text and paid["provider_order_id"] in text
    assert paid["transaction_id"] in text


async def test_a_free_service_signs_straight_through(server: RunningServer) -> None:
    c = await open_counter(server)  # tax registration: no fee
    status, signed = await signed_at_counter(c)
    assert status == 201 and signed["acceptance_number"] and signed["payment"] is None


async def test_the_create_is_idempotent(server: RunningServer, sandbox: RunningSandbox) -> None:
    c = await fee_counter(server)
    _, signed = await signed_at_counter(c)
    first = signed["payment"]
    # the kiosk asks again (a lost answer, a second press): the same order, not a second one
    status, again = await c.as_kiosk("POST", f"/api/sessions/{c.session_id}/payment", {})
    assert status == 200 and again["payment_id"] == first["payment_id"]
    assert again["provider_order_id"] == first["provider_order_id"]
    # the provider itself: the same key returns the same order; with other terms it refuses
    provider = server.app[PAYMENTS].provider
    assert (await payment_store.get(server.db, first["payment_id"])).attempt == 1
    create = CreateOrder(
        mchid="vcounter", out_trade_no=uuid.uuid4().hex, description="Exchange of a driving licence",
        amount=Amount(total=1000, currency="CNY"), notify_url=f"{server.url}/x", expire_s=60,
    )  # fmt: skip
    other = await provider.create_order("retry-key-0001", create)
    assert (await provider.create_order("retry-key-0001", create)).order_id == other.order_id
    changed = create.model_copy(update={"amount": Amount(total=1, currency="CNY")})
    with pytest.raises(ProviderRefused) as refused:
        await provider.create_order("retry-key-0001", changed)
    assert refused.value.provider_code == "IDEMPOTENCY_MISMATCH"
    assert len(sandbox.box.orders) == 2  # the session's and this one: no third


async def test_an_expired_order_is_replaced_by_a_new_one(
    server: RunningServer, sandbox: RunningSandbox
) -> None:
    c = await fee_counter(server)
    _, signed = await signed_at_counter(c)
    first = signed["payment"]
    sandbox.box.advance(61)  # the order's minute has passed at the provider
    await wait_application(
        c, lambda v: v["payments"][-1]["state"] == "expired", "the expiry notification"
    )
    status, retry = await c.as_kiosk("POST", f"/api/sessions/{c.session_id}/payment", {})
    assert status == 200, retry
    assert retry["payment_id"] != first["payment_id"] and retry["attempt"] == 2
    assert retry["state"] == "open" and retry["code_url"] != first["code_url"]
    # the old code no longer pays
    assert (await payer(first["code_url"]))["state"] == "expired"
    await payer(retry["code_url"])
    view = await wait_application(c, lambda v: v["state"] == "submitted", "paid on the retry")
    assert [p["state"] for p in view["payments"]] == ["expired", "paid"]
    assert "payment.expired" in await kinds(server, c.session_id)


async def test_a_code_left_unpaid_when_the_call_ends_is_closed(
    server: RunningServer, sandbox: RunningSandbox
) -> None:
    c = await fee_counter(server)
    _, signed = await signed_at_counter(c)
    order = signed["payment"]
    # the applicant walks away with the code on the screen: the call ends
    await store.update_session(server.db, c.session_id, state="ended")
    await wait_application(
        c, lambda v: v["payments"][-1]["state"] == "closed", "the code closed after the call"
    )
    # their phone can no longer pay it, and nothing was submitted for someone who left
    assert (await payer(order["code_url"]))["state"] == "closed"
    assert (await application(c))["state"] == "form_shown"
    assert "payment.closed" in await kinds(server, c.session_id)
    assert (await AuditLog(server.db).verify(c.session_id)).ok


async def test_a_code_paid_as_the_call_ends_still_submits(
    server: RunningServer, sandbox: RunningSandbox
) -> None:
    c = await fee_counter(server)
    _, signed = await signed_at_counter(c)
    # the payer was quicker than the close: the payment stands and the application goes in
    assert (await payer(signed["payment"]["code_url"]))["state"] == "paid"
    await store.update_session(server.db, c.session_id, state="ended")
    view = await wait_application(c, lambda v: v["state"] == "submitted", "submitted once paid")
    assert [p["state"] for p in view["payments"]] == ["paid"]
    assert "payment.closed" not in await kinds(server, c.session_id)


async def test_a_declined_payment_is_failed_and_may_be_retried(server: RunningServer) -> None:
    c = await fee_counter(server)
    _, signed = await signed_at_counter(c)
    await payer(signed["payment"]["code_url"], "decline")
    await wait_application(
        c, lambda v: v["payments"][-1]["state"] == "failed", "the failure notification"
    )
    assert (await application(c))["state"] == "form_shown"
    status, retry = await c.as_kiosk("POST", f"/api/sessions/{c.session_id}/payment", {})
    assert status == 200 and retry["attempt"] == 2


async def test_a_rejected_paid_application_is_refunded(
    server: RunningServer, sandbox: RunningSandbox
) -> None:
    c = await fee_counter(server)
    _, signed = await signed_at_counter(c)
    await payer(signed["payment"]["code_url"])
    await wait_application(c, lambda v: v["state"] == "submitted", "submitted once paid")
    status, decided = await c.as_clerk(
        "POST", f"/api/sessions/{c.session_id}/decision",
        {"outcome": "rejected", "reason": "licence not valid for exchange"},
    )  # fmt: skip
    assert status == 200, decided
    assert decided["state"] == "rejected"
    refunded = decided["payments"][-1]
    assert refunded["state"] == "refunded" and refunded["refund_id"].startswith("RF")
    order = sandbox.box.orders[refunded["payment_id"]].order
    assert order.state == "refunded" and order.refunded == 1000
    events = await AuditLog(server.db).events(c.session_id)
    refund = next(e for e in events if e.kind == "payment.refunded")
    assert refund.payload["amount_minor"] == 1000 and "rejected" in refund.payload["reason"]
    assert [e.kind for e in events].index("decision.recorded") < refund.seq
    # the provider's REFUND.SUCCESS notification arrives too: a duplicate, acknowledged
    await wait_until(lambda: _delivered(sandbox), "notifications delivered", tries=500)
    assert [e.kind for e in await AuditLog(server.db).events(c.session_id)].count(
        "payment.refunded"
    ) == 1


async def _delivered(sandbox: RunningSandbox) -> bool:
    return sandbox.box.delivering == 0


# ---------------------------------------------------------------------- notifications


async def _post(server: RunningServer, body: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/api/payments/notify/sandbox", data=body,
            headers={"Content-Type": "application/json", **headers},
        ) as r,
    ):  # fmt: skip
        return r.status, await r.json()


async def _paid_notice(server: RunningServer, sandbox: RunningSandbox) -> tuple[Any, str]:
    """An open order of a fresh session and a "paid" notification of it (not sent)."""
    c = await fee_counter(server)
    _, signed = await signed_at_counter(c)
    entry = sandbox.box.orders[signed["payment"]["payment_id"]]
    order = entry.order.model_copy(
        update={"state": "paid", "transaction_id": "TXforged", "paid_at": entry.order.created_at}
    )
    notice = Notification(
        id=uuid.uuid4().hex, event_type="TRANSACTION.SUCCESS", created_at=order.created_at,
        resource=order,
    )  # fmt: skip
    return c, notice.model_dump_json()


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        str(getattr(r, "reason", ""))
        for r in caplog.records
        if r.name == "signaling.payments.routes" and r.levelno == logging.WARNING
    ]


async def test_a_forged_notification_is_refused_and_logged(
    server: RunningServer, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    c, body = await _paid_notice(server, sandbox)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    status, answer = await _post(server, body, sig.sign_body(Ed25519PrivateKey.generate(), body))
    assert status == 401 and answer["code"] == "FAIL"
    # a real signature over another body does not carry over either
    status, _ = await _post(server, body, sig.sign_body(sandbox.key, body + " "))
    assert status == 401
    status, _ = await _post(server, body, {})  # no signature at all
    assert status == 401
    assert _refusals(caplog) == ["forged", "forged", "forged"]
    view = await application(c)
    assert view["state"] == "form_shown" and view["payments"][-1]["state"] == "open"
    assert "payment.paid" not in await kinds(server, c.session_id)


async def test_a_replayed_notification_is_refused_and_logged(
    server: RunningServer, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    c, body = await _paid_notice(server, sandbox)
    headers = sig.sign_body(sandbox.key, body)
    status, answer = await _post(server, body, headers)
    assert (status, answer["code"]) == (200, "SUCCESS")
    await wait_application(c, lambda v: v["state"] == "submitted", "submitted once paid")
    status, answer = await _post(server, body, headers)  # the same bytes again
    assert status == 401 and answer["code"] == "FAIL"
    # and one signed long ago (outside the window), with a fresh nonce
    old = sig.sign_body(sandbox.key, body, timestamp=int(time.time()) - 3600)
    status, _ = await _post(server, body, old)
    assert status == 401
    assert _refusals(caplog) == ["replayed", "stale"]
    assert (await kinds(server, c.session_id)).count("payment.paid") == 1


async def test_a_notification_for_an_unknown_order_is_refused_and_logged(
    server: RunningServer, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    _, body = await _paid_notice(server, sandbox)
    notice = Notification.model_validate_json(body)
    stranger = notice.model_copy(
        update={"resource": notice.resource.model_copy(update={"out_trade_no": "f" * 32})}
    ).model_dump_json()
    status, answer = await _post(server, stranger, sig.sign_body(sandbox.key, stranger))
    assert status == 404 and answer["code"] == "FAIL"
    assert _refusals(caplog) == ["unknown_order"]


async def test_a_notification_with_another_amount_is_not_believed(
    server: RunningServer, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    c, body = await _paid_notice(server, sandbox)
    notice = Notification.model_validate_json(body)
    cheap = notice.model_copy(
        update={"resource": notice.resource.model_copy(
            update={"amount": Amount(total=1, currency="CNY")})}
    ).model_dump_json()  # fmt: skip
    status, _ = await _post(server, cheap, sig.sign_body(sandbox.key, cheap))
    assert status == 401
    assert _refusals(caplog) == ["amount_mismatch"]
    assert (await application(c))["payments"][-1]["state"] == "open"


async def test_the_amount_is_the_catalogue_s_never_the_kiosk_s(server: RunningServer) -> None:
    c = await fee_counter(server)
    await signed_at_counter(c)
    # the kiosk's body has no amount to give; an extra field is refused outright
    status, answer = await c.as_kiosk(
        "POST", f"/api/sessions/{c.session_id}/payment", {"amount_minor": 1}
    )
    assert status == 400, answer
    async with server.db.sessions() as s:
        rows = list(await s.scalars(select(Payment)))
    assert [r.amount_minor for r in rows] == [1000]


# ---------------------------------------------------------------------- fee due on approval


async def test_a_fee_due_on_approval_is_paid_before_the_result_prints(
    server: RunningServer, sandbox: RunningSandbox
) -> None:
    from tests.sign.conftest import DOCUMENT_NUMBER

    c, signed = await approved_with_fee_on_approval(server)
    # nothing was due at submission: the number at once, the receipt names the fee to come
    receipt = next(d for d in signed["documents"] if d["kind"] == "receipt")
    _, pdf = await c.as_clerk("GET", receipt["url"].split(server.url, 1)[1])
    from tests.sign.test_full_flow import pdf_text

    assert "CNY80.00" in pdf_text(pdf)

    # at another kiosk, after the ID re-check: the fee's order, and nothing printed yet
    other = await server.add_terminal("kiosk-hall")
    ask = {"acceptance_number": signed["acceptance_number"], "document_number": DOCUMENT_NUMBER,
           "source": "chip"}  # fmt: skip
    status, found = await c.call("POST", "/api/reprint", other, ask)
    assert status == 200, found
    assert found["documents"] == []
    order = found["payments"][-1]
    assert (order["purpose"], order["state"], order["amount"]) == ("result", "open", "CNY 80.00")
    # the kiosk in the call cannot ask for the result's order; the reprinting one can
    status, _ = await c.as_kiosk("POST", f"/api/sessions/{c.session_id}/payment",
                                 {"purpose": "result"})  # fmt: skip
    assert status == 403
    status, again = await c.call(
        "POST", f"/api/sessions/{c.session_id}/payment", other, {"purpose": "result"}
    )
    assert status == 200 and again["payment_id"] == order["payment_id"]
    await payer(order["code_url"])
    await wait_application(
        c, lambda v: v["payments"][-1]["state"] == "paid", "the result's fee paid"
    )
    status, found = await c.call("POST", "/api/reprint", other, ask)
    assert status == 200
    assert sorted(d["kind"] for d in found["documents"]) == ["receipt", "result"]


async def test_a_refund_the_provider_cannot_take_is_refund_failed_in_the_chain(
    server: RunningServer, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    c = await fee_counter(server)
    _, signed = await signed_at_counter(c)
    await payer(signed["payment"]["code_url"])
    await wait_application(c, lambda v: v["state"] == "submitted", "submitted once paid")
    provider = server.app[PAYMENTS].provider
    reachable = provider.base_url  # type: ignore[attr-defined]
    provider.base_url = "http://127.0.0.1:9"  # type: ignore[attr-defined]  # nobody listens
    status, decided = await c.as_clerk(
        "POST", f"/api/sessions/{c.session_id}/decision", {"outcome": "rejected", "reason": "no"}
    )
    provider.base_url = reachable  # type: ignore[attr-defined]
    # the decision stands; the refund is recorded as failed, for a person to follow up
    assert status == 200 and decided["state"] == "rejected"
    assert decided["payments"][-1]["state"] == "refund_failed"
    events = await AuditLog(server.db).events(c.session_id)
    failed = next(e for e in events if e.kind == "payment.refund_failed")
    assert "did not answer" in failed.payload["error"]
    assert any("refund of payment" in r.getMessage() for r in caplog.records)
    # staff retry once the provider answers again: refunded, in the chain
    result = await payments_cli(server, sandbox, "retry-refunds")
    assert result.exit_code == 0, result.output
    assert "refunded" in result.output
    assert (await application(c))["payments"][-1]["state"] == "refunded"
    assert "payment.refunded" in await kinds(server, c.session_id)
    result = await payments_cli(server, sandbox, "retry-refunds")
    assert result.output.strip().endswith("no refunds waiting to be retried")


async def test_the_sandbox_takes_only_signed_fresh_merchant_requests(
    sandbox: RunningSandbox,
) -> None:
    body = CreateOrder(
        mchid="vcounter", out_trade_no=uuid.uuid4().hex, description="Exchange of a licence",
        amount=Amount(total=1000, currency="CNY"), notify_url="http://127.0.0.1:9/n", expire_s=60,
    ).model_dump_json()  # fmt: skip
    key = sig.load_or_create_key(sandbox.merchant_key)
    auth = sig.authorization(key, "vcounter", "POST", "/v3/orders", body)
    headers = {"Content-Type": "application/json", "Idempotency-Key": "sandbox-key-1"}
    async with aiohttp.ClientSession() as http:

        async def create(extra: dict[str, str]) -> tuple[int, Any]:
            async with http.post(
                f"{sandbox.url}/v3/orders", data=body, headers={**headers, **extra}
            ) as r:
                return r.status, await r.json()

        assert (await create({}))[0] == 401  # unsigned
        other = sig.authorization(sig.load_or_create_key(sandbox.merchant_key.with_name("x.pem")),
                                  "vcounter", "POST", "/v3/orders", body)  # fmt: skip
        assert (await create({"Authorization": other}))[1]["code"] == "SIGN_ERROR"
        assert (await create({"Authorization": auth}))[0] == 201
        status, answer = await create({"Authorization": auth})  # the same request again
        assert status == 401 and "replay" in answer["message"]
