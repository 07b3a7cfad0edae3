"""Skills, widening and aging as the matcher applies them in the store (SQLite and PostgreSQL):
the best level first, lower levels only after the configured waits, and a queue order in which
waiting ages every call so a stream of care-mode calls cannot starve a plain one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from signaling.catalogue import load_catalogue
from storage import presence, routing
from storage.db import Database
from storage.models import CallSession
from storage.skills import SkillRule, WideningStep
from tests.signaling.test_router import TAX, dept_of, prepared_db

DEPT = dept_of(load_catalogue(), TAX)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_and_kiosks(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Database, list[int]]]:
    async with prepared_db(tmp_path, str(request.param), 30) as prepared:
        yield prepared


async def queue(
    db: Database, terminal: int, *, care: bool = False, language: str = "en", ceiling: float = 300
) -> str:
    session_id = uuid.uuid4().hex
    await routing.open_session(
        db, session_id=session_id, terminal_id=terminal, service_id=TAX, department_id=DEPT,
        language=language, care_mode=care, priority=routing.PRIORITY_CARE if care else 0,
        recall_of=None, ice_servers=[], early_offer=None, actor=f"terminal:{terminal}",
        aging_ceiling_s=ceiling,
    )  # fmt: skip
    return session_id


async def on_duty(db: Database, clerk: int, skills: Mapping[str, int], free: bool = True) -> None:
    await presence.clerk_attach(db, clerk, {DEPT}, "p", f"s{clerk}", None, skills)
    if free:
        await presence.set_clerk_state(db, clerk, "available", ("away",))


async def time_passes(db: Database, seconds: float) -> None:
    """Every waiting call has waited ``seconds`` longer: their clock moved back, as time
    passing would (the order between them is kept)."""
    back = timedelta(seconds=seconds)
    async with db.transaction() as tx:
        waiting = (
            await tx.session.execute(select(CallSession).where(CallSession.state == "queued"))
        ).scalars()
        for row in waiting:
            assert row.enqueued_at is not None and row.rank_at is not None
            await tx.session.execute(
                update(CallSession)
                .where(CallSession.id == row.id)
                .values(
                    created_at=row.created_at - back,
                    enqueued_at=row.enqueued_at - back,
                    rank_at=row.rank_at - back,
                )
            )


async def offers(
    db: Database, rules: Mapping[str, SkillRule] | None = None
) -> list[tuple[str, int]]:
    made = await routing.claim_batch(db, offer_timeout_s=30.0, decline_pause_s=0.0, rules=rules)
    return [(s.id, c.clerk_id) for s, c in made]


async def test_the_best_level_is_rung_before_the_longest_idle(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    # clerk 1 is idle longest but a beginner at this service; clerk 3 speaks the language
    await on_duty(db, 1, {f"service:{TAX}": 1})
    await on_duty(db, 2, {f"service:{TAX}": 5})
    await on_duty(db, 3, {f"service:{TAX}": 5, "lang:yue": 4})
    cantonese = await queue(db, kiosks[0], language="zh-Hant")
    english = await queue(db, kiosks[1])
    plain = await queue(db, kiosks[2])
    # first come first: the Cantonese call gets the expert who speaks it, the next the other
    # expert, the last whoever is left
    assert await offers(db) == [(cantonese, 3), (english, 2), (plain, 1)]


async def test_a_waiting_call_widens_to_lower_levels_after_the_configured_waits(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    rule = SkillRule(
        {"service": 1},
        (
            WideningStep(0, {"service": 4}),
            WideningStep(30, {"service": 3}),
            WideningStep(90, {}),
        ),
    )
    rules = {TAX: rule}
    await on_duty(db, 1, {f"service:{TAX}": 2})
    call = await queue(db, kiosks[0])
    # only a level-4 clerk at first: the level-2 clerk is free but not rung
    assert await offers(db, rules) == []
    await time_passes(db, 31)
    assert await offers(db, rules) == []  # level 3 wanted now: still not them
    await time_passes(db, 60)
    # past 90 s the floor (1) is all it asks
    assert await offers(db, rules) == [(call, 1)]


async def test_an_expert_coming_free_takes_the_call_before_it_widens(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    rules = {TAX: SkillRule({"service": 1}, (WideningStep(0, {"service": 4}),))}
    await on_duty(db, 1, {f"service:{TAX}": 2})
    call = await queue(db, kiosks[0])
    assert await offers(db, rules) == []
    await on_duty(db, 2, {f"dept:{DEPT}": 4})  # a department level counts for its services
    assert await offers(db, rules) == [(call, 2)]


async def test_a_floor_keeps_a_call_from_clerks_below_it_however_long_it_waits(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    rules = {TAX: SkillRule({"service": 1, "care": 2})}
    await on_duty(db, 1, {"care": 1})
    care = await queue(db, kiosks[0], care=True)
    plain = await queue(db, kiosks[1])
    await time_passes(db, 3600)
    # the care-mode call needs a clerk trained to level 2; the plain call does not
    assert await offers(db, rules) == [(plain, 1)]
    await on_duty(db, 2, {"care": 3})
    assert await offers(db, rules) == [(care, 2)]


async def test_waiting_ages_every_call_so_a_stream_of_care_calls_cannot_starve_one(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    ceiling = 300.0  # a care-mode call's head start is half: 150 s
    await on_duty(db, 1, {}, free=False)
    plain = await queue(db, kiosks[0], ceiling=ceiling)
    served: list[str] = []
    cares: list[str] = []
    # a care-mode call arrives every 20 s and one clerk takes one call every 20 s: without
    # aging the care calls, always first, would keep the plain call waiting forever
    for minute_third in range(1, len(kiosks) - 1):
        cares.append(await queue(db, kiosks[minute_third], care=True, ceiling=ceiling))
        await time_passes(db, 20)
        await presence.set_clerk_state(db, 1, "available", ("away",))
        [(session_id, _clerk)] = await offers(db)
        served.append(session_id)
        await routing.withdraw(
            db, session_id, 1, reason="timeout", clerk_next="away", count_decline=False,
            actor="clerk:c1",
        )  # fmt: skip
        await routing.finish(db, session_id, state="cancelled", reason="test", actor="t")
        if session_id == plain:
            break
    assert plain in served, "the plain call was never served behind the care-mode calls"
    # care calls that came within the head start went first; none that came later did
    waited_for = served.index(plain)
    assert waited_for * 20 <= ceiling / 2 + 20
    assert served[:waited_for] == cares[:waited_for]
    assert waited_for >= 5  # the care calls did have priority while they could


async def test_a_care_call_overtakes_a_plain_one_queued_less_than_its_head_start_before(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    plain = await queue(db, kiosks[0])
    await time_passes(db, 100)
    care = await queue(db, kiosks[1], care=True)
    await time_passes(db, 1)
    later = await queue(db, kiosks[2])
    await on_duty(db, 1, {})
    await on_duty(db, 2, {})
    await on_duty(db, 3, {})
    assert [s for s, _ in await offers(db)] == [care, plain, later]


async def test_a_declined_call_waits_for_someone_who_can_take_it_at_its_floors(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    rules = {
        TAX: SkillRule({"service": 1}, (WideningStep(0, {"service": 4}), WideningStep(60, {})))
    }
    await on_duty(db, 1, {f"service:{TAX}": 5})
    await on_duty(db, 2, {f"service:{TAX}": 2})
    call = await queue(db, kiosks[0])
    assert await offers(db, rules) == [(call, 1)]
    await routing.withdraw(
        db, call, 1, reason="declined", clerk_next="available", count_decline=True,
        actor="clerk:c1",
    )  # fmt: skip
    # clerk 2 (free, but below level 4) can take it once it widens: it does not go back to
    # the clerk who passed
    assert await offers(db, rules) == []
    await presence.set_clerk_state(db, 2, "away", ("available",))
    # nobody else on duty could ever take it: back to the clerk who passed (no pause configured)
    assert await offers(db, rules) == [(call, 1)]
