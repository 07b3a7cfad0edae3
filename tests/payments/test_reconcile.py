"""``vcounter payments reconcile DATE``: our records against the sandbox's settlement file."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from storage.models import Payment
from tests.conftest import RunningServer
from tests.payments.conftest import (
    RunningSandbox,
    fee_counter,
    payer,
    payments_cli,
    signed_at_counter,
    wait_application,
)


async def test_reconcile_agrees_then_finds_planted_differences(
    server: RunningServer, sandbox: RunningSandbox
) -> None:
    paid_ids = []
    for n in (1, 2):
        c = await fee_counter(server, n)
        _, signed = await signed_at_counter(c)
        await payer(signed["payment"]["code_url"])
        await wait_application(c, lambda v: v["state"] == "submitted", "paid")
        paid_ids.append(signed["payment"]["payment_id"])
    status, _ = await c.as_clerk(
        "POST", f"/api/sessions/{c.session_id}/decision", {"outcome": "rejected", "reason": "no"}
    )
    assert status == 200
    today = datetime.now(UTC).date().isoformat()
    result = await payments_cli(server, sandbox, "reconcile", today)
    assert result.exit_code == 0, result.output
    assert "agree" in result.output
    # planted: our record of the first payment says CNY 9.00; the refund of the second
    # was never recorded on our side
    async with server.db.sessions() as s, s.begin():
        await s.execute(update(Payment).where(Payment.id == paid_ids[0]).values(amount_minor=900))
        await s.execute(
            update(Payment).where(Payment.id == paid_ids[1])
            .values(state="paid", refunded_at=None, refunded_minor=0)
        )  # fmt: skip
    result = await payments_cli(server, sandbox, "reconcile", today)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("- ")]
    assert len(lines) == 2, result.output
    assert f"Payment {paid_ids[0]}: we recorded CNY 9.00, the provider settled CNY 10.00." in (
        result.output
    )
    assert f"The provider settled refund {paid_ids[1]}" in result.output
    assert "(we have it as paid)" in result.output
    # a day with nothing on either side agrees
    assert (await payments_cli(server, sandbox, "reconcile", "2020-01-01")).exit_code == 0


async def test_reconcile_refuses_a_bad_date(server: RunningServer, sandbox: RunningSandbox) -> None:
    result = await payments_cli(server, sandbox, "reconcile", "05/12/2026")
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output
