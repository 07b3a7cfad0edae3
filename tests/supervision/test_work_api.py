"""Clerks' work states through the real server: away with a reason over the socket, the
supervisor's overview of states, and the work report (API and ``vcounter report work``)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from signaling.cli import main
from storage import store
from storage.state_log import state_entry
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import ClerkPeer, login
from tests.supervision.test_supervisor_api import add_supervisor, get

NINE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def test_away_needs_a_reason_and_the_supervisor_sees_it(server: RunningServer) -> None:
    token = await add_supervisor(server)
    await server.add_clerk("carl", ["taxation"])
    clerk = ClerkPeer(server.url, await login(server.url, "carl", CLERK_PASSWORD))
    await clerk.connect()
    try:
        await clerk.wait(lambda: clerk.status is not None)
        assert clerk.status is not None
        assert clerk.status.away_reasons == ["break", "meal", "training", "meeting"]
        await clerk.emit("set_availability", {"available": True})
        await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "available")
        await clerk.emit("set_availability", {"available": False})
        await clerk.wait(lambda: len(clerk.errors) == 1)
        assert clerk.errors[0].code == "invalid_message"
        assert "give a reason, one of break, meal, training, meeting" in clerk.errors[0].message
        await clerk.emit("set_availability", {"available": False, "reason": "siesta"})
        await clerk.wait(lambda: len(clerk.errors) == 2)
        assert "'siesta' is not an away reason" in clerk.errors[1].message
        assert (await server.clerk(2)).state == "available"
        await clerk.emit("set_availability", {"available": False, "reason": "meeting"})
        await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "away")
        assert clerk.status.away_reason == "meeting"
        status, body, _ = await get(server, "/api/supervisor/overview", token)
        assert status == 200
        (carl,) = body["clerks"]
        assert carl["state"] == "away" and carl["away_reason"] == "meeting"
        assert carl["wrap_up_left_s"] is None and carl["wrap_up_overtime"] is False
    finally:
        await clerk.close()


async def test_the_work_report_over_the_api_and_the_command_line(
    server: RunningServer, tmp_path: Path
) -> None:
    token = await add_supervisor(server)
    ann = (await store.create_clerk(server.db, "ann", CLERK_PASSWORD, "Ann", ["taxation"])).id
    async with server.db.transaction() as tx:
        for state, minutes, reason in [
            ("available", 0, None),
            ("busy", 10, None),
            ("wrap_up", 20, None),
            ("away", 25, "meal"),
            ("offline", 60, None),
        ]:
            tx.session.add(
                state_entry(ann, state, NINE + timedelta(minutes=minutes), reason=reason)
            )
    q = "since=2026-11-02T09:00&until=2026-11-02T10:00"
    status, body, _ = await get(server, f"/api/supervisor/work?{q}", token)
    assert status == 200, body
    (row,) = body["clerks"]
    assert row["username"] == "ann" and row["on_duty_s"] == 3600
    assert (row["talk_s"], row["wrap_up_s"], row["away_s"]) == (600, 300, {"meal": 2100})
    assert row["occupancy"] == round(900 / 1500, 4)
    status, body, _ = await get(
        server, "/api/supervisor/work?since=2026-11-03&until=2026-11-02", token
    )
    assert status == 400 and "swap since and until" in body["message"]
    runner = CliRunner()
    args = ["--data-dir", str(server.settings.data_dir), "report", "work"]
    period = ["--since", "2026-11-02T09:00", "--until", "2026-11-02T10:00"]
    # the command runs its own event loop: in a thread, beside the server's
    result = await asyncio.to_thread(runner.invoke, main, [*args, *period, "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["clerks"][0]["talk_s"] == 600
    table = await asyncio.to_thread(runner.invoke, main, [*args, *period])
    assert table.exit_code == 0, table.output
    assert "ann" in table.output and "60.0 %" in table.output and "meal 0:35:00" in table.stdout
    bad = await asyncio.to_thread(runner.invoke, main, [*args, "--since", "yesterday"])
    assert bad.exit_code == 2 and "is not a date or time" in bad.output
