"""The statements each hot transition sends to the database: under load a process's time went
to round trips (each one an event-loop turn and a socket write), so each transition has a
budget, counted on the real engine, that a change must not grow by accident.

On PostgreSQL the transitions of ``storage.rows`` go past SQLAlchemy, and their BEGIN and
COMMIT are counted too: a locked transition is BEGIN, one read (the rows locked, the clock),
one write (every row and event, one ``WITH`` statement), COMMIT."""

from __future__ import annotations

from pathlib import Path

import pytest

from signaling.catalogue import load_catalogue
from storage import media_breaks, presence, routing
from tests import dbutil
from tests.dbutil import counted
from tests.signaling.test_router import TAX, dept_of, make_db, prepare


def locked(backend: str, sqlite: list[str]) -> list[str]:
    """A locked transition's statements: on PostgreSQL always the same four."""
    return ["BEGIN", "WITH", "WITH", "COMMIT"] if backend == "postgresql" else sqlite


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_a_request_and_an_accept_stay_within_their_round_trips(
    tmp_path: Path, backend: str
) -> None:
    catalogue = load_catalogue()
    db, url = await make_db(tmp_path, backend)
    try:
        async with db:
            [terminal] = await prepare(db, catalogue, 1)
            dept = dept_of(catalogue, TAX)
            with counted(db) as opening:
                await routing.open_session(
                    db, session_id="a" * 32, terminal_id=terminal, service_id=TAX,
                    department_id=dept, language="en", care_mode=False, priority=0,
                    recall_of=None, ice_servers=[], early_offer=None,
                    actor=f"terminal:{terminal}",
                )  # fmt: skip
            # the clock (PostgreSQL), the session, its first chain event: no lock or head read
            # for a chain that cannot exist yet, no department lookup, no transaction around
            # one statement that writes both
            if backend == "postgresql":
                assert opening == ["SELECT", "WITH"], opening
            else:
                assert opening == ["INSERT", "INSERT"], opening
            await presence.clerk_attach(db, 1, {dept}, "p", "s1", None)
            await presence.set_clerk_state(db, 1, "available", ("away",))
            with counted(db) as routing_round:
                [(offered, _clerk)] = await routing.claim_batch(
                    db, offer_timeout_s=30.0, decline_pause_s=0.0
                )
            # the clerks with the clock and the heads of the line (no transaction yet), then
            # the plan's sessions and clerks locked in one statement and every row and event
            # written in one (PostgreSQL); on SQLite the rows written one by one (the clerk's
            # state log row with them)
            if backend == "postgresql":
                assert routing_round == ["SELECT", "SELECT", "BEGIN", "WITH", "WITH", "COMMIT"]
            else:
                assert routing_round == ["SELECT", "SELECT", "UPDATE", "UPDATE", "INSERT", "INSERT"]
            with counted(db) as accepting:
                await routing.accept(db, 1, offered.id, "clerk:c1")
            # the session's row with the clock and its chain's head, the clerk's row, then the
            # two rows, the clerk's state log row and the event written
            busy = ["SELECT", "SELECT", "UPDATE", "UPDATE", "INSERT", "INSERT"]
            assert accepting == locked(backend, busy)
            with counted(db) as connecting:
                await media_breaks.report(
                    db, offered.id, "terminal", "terminal:1", state="connected", attempt=0
                )
            assert connecting == locked(backend, ["SELECT", "UPDATE", "INSERT"])
            with counted(db) as ending:
                await routing.finish(db, offered.id, state="ended", reason="done", actor="clerk:c1")
            assert ending == locked(backend, busy)
    finally:
        if url is not None:
            await dbutil.drop_pg_database(url)
