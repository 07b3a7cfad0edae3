"""Routing benchmark (issue 15): one routing decision with a long queue and clerks with skills.

    python -m bench.routing                 # 10,000 waiting, 1,000 clerks, 30 services
    python -m bench.routing --waiting 2000 --decisions 200

The store is PostgreSQL (a throwaway database; SQLite when no PostgreSQL answers, said in the
output). It is filled with 10,000 waiting calls across 30 services (in every language, one in
ten in care mode, queued over the last 20 minutes) and 1,000 clerks on duty, every one in a
call, each serving one or two departments with skills at levels 1-5 (services, languages,
care). Every service's calls want level 4 at first and widen to 3 after 30 s and to the
floor after 90 s. Then, turn about, a call arrives (the matcher runs: nobody is free) and a
clerk's call ends (the matcher runs: that clerk is free, and is offered the best call for
them if any wants them yet). Each of those routing rounds (``storage.routing.claim_batch``,
what the server's matcher runs) is one decision, timed. Target: p99 <= 20 ms.
Last line JSON: ``route_p50_ms``, ``route_p99_ms``, ``offer_p99_ms``, ``decisions``,
``offers``, ``waiting``, ``clerks``, ``database``.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update

from bench.cli import bench_parser, parse, report
from bench.server import pct
from signaling.catalogue import load_catalogue
from storage import presence, routing, store
from storage.db import Database, default_sqlite_url
from storage.models import CallSession, Clerk, ClerkPresence, Terminal
from storage.skills import SPOKEN, SkillRule, WideningStep
from tests import dbutil

KEYS = (
    "route_p50_ms",
    "route_p99_ms",
    "offer_p99_ms",
    "decisions",
    "offers",
    "waiting",
    "clerks",
    "database",
)
SERVICES = 30
RULE = SkillRule(
    {"service": 1},
    (
        WideningStep(0, {"service": 4, "language": 3}),
        WideningStep(30, {"service": 3}),
        WideningStep(90, {}),
    ),
)


def clerk_skills(
    rng: random.Random, departments: list[str], services: dict[str, str]
) -> dict[str, int]:
    """A clerk's skills: a level at some of their departments' services, one to three
    languages, care-mode training for some."""
    skills: dict[str, int] = {}
    for service, dept in services.items():
        if dept in departments and rng.random() < 0.6:
            skills[f"service:{service}"] = rng.randint(1, 5)
    for code in rng.sample(sorted(set(SPOKEN.values())), rng.randint(1, 3)):
        skills[f"lang:{code}"] = rng.randint(1, 5)
    if rng.random() < 0.3:
        skills["care"] = rng.randint(1, 5)
    return skills


async def seed(db: Database, waiting: int, clerks: int, rng: random.Random) -> dict[str, str]:
    """The catalogue, kiosks, clerks on duty in calls, and ``waiting`` queued calls; returns
    the services used (id -> department)."""
    catalogue = load_catalogue()
    await store.sync_catalogue(
        db,
        [(d.id, d.names.model_dump(by_alias=True)) for d in catalogue.departments],
        [
            (s.id, s.department_id, s.names.model_dump(by_alias=True), [], s.second_approval)
            for s in catalogue.services
        ],
    )
    services = {s.id: s.department_id for s in catalogue.services[:SERVICES]}
    departments = sorted(set(services.values()))
    async with db.transaction() as tx:
        await tx.session.execute(
            insert(Terminal),
            [
                {"name": f"bench-k{i}", "token_hash": secrets.token_hex(32), "location": ""}
                for i in range(waiting + 1)
            ],
        )
        rows = []
        for j in range(clerks):
            theirs = rng.sample(departments, rng.randint(1, 2))
            rows.append(
                {
                    "username": f"bench-c{j}",
                    "display_name": f"Clerk {j}",
                    "password_hash": "-",
                    "departments": theirs,
                    "skills": clerk_skills(rng, theirs, services),
                }
            )
        await tx.session.execute(insert(Clerk), rows)
    async with db.reads() as s:
        accounts = (await s.execute(select(Clerk.id, Clerk.departments, Clerk.skills))).all()
        kiosks = list((await s.scalars(select(Terminal.id).order_by(Terminal.id))).all())
    now = await _now(db)
    async with db.transaction() as tx:
        # every clerk on duty and in a call: under load nobody is free for long
        await tx.session.execute(
            insert(ClerkPresence),
            [
                {
                    "clerk_id": cid, "state": "busy", "state_since": now, "idle_since": now,
                    "departments": depts, "skills": skills, "connected": True,
                    "process_id": "bench", "sid": f"s{cid}", "version": 1,
                }
                for cid, depts, skills in accounts
            ],
        )  # fmt: skip
    ids = sorted(services)
    for i in range(waiting):
        await arrive(db, kiosks[i], rng, ids, services)
    # queued over the last 20 minutes, in the order they came
    ages = sorted((rng.uniform(0, 1200) for _ in range(waiting)), reverse=True)
    async with db.reads() as s:
        queued = (
            await s.execute(
                select(CallSession.id, CallSession.priority).order_by(CallSession.enqueued_at)
            )
        ).all()
    async with db.transaction() as tx:
        for (session_id, priority), age in zip(queued, ages, strict=True):
            at = now - timedelta(seconds=age)
            await tx.session.execute(
                update(CallSession)
                .where(CallSession.id == session_id)
                .values(created_at=at, enqueued_at=at, rank_at=routing.rank_time(at, priority))
            )
    return services


async def _now(db: Database) -> Any:
    async with db.reads() as s:
        return await routing.db_now(s)


async def arrive(
    db: Database, kiosk: int, rng: random.Random, ids: list[str], services: dict[str, str]
) -> str:
    """A call for a random service, in a random language, one in ten in care mode."""
    service = rng.choice(ids)
    care = rng.random() < 0.1
    session_id = uuid.uuid4().hex
    await routing.open_session(
        db, session_id=session_id, terminal_id=kiosk, service_id=service,
        department_id=services[service], language=rng.choice(sorted(SPOKEN)), care_mode=care,
        priority=routing.PRIORITY_CARE if care else 0, recall_of=None, ice_servers=[],
        early_offer=None, actor=f"terminal:{kiosk}",
    )  # fmt: skip
    return session_id


async def run(waiting: int, clerks: int, decisions: int, seed_value: int) -> dict[str, Any]:
    """Seed the store, then time ``decisions`` routing rounds as calls arrive and end."""
    rng = random.Random(seed_value)
    url: str | None = None
    if dbutil.postgres_available():
        url = await dbutil.create_pg_database()
        db_url, database = url, "postgresql"
    else:
        import tempfile
        from pathlib import Path

        db_url, database = (
            default_sqlite_url(Path(tempfile.mkdtemp(prefix="vcounter-routing-"))),
            "sqlite",
        )
    try:
        async with Database(db_url) as db:
            await db.upgrade()
            started = time.perf_counter()
            services = await seed(db, waiting, clerks, rng)
            seeded_s = time.perf_counter() - started
            rules = {sid: RULE for sid in services}
            ids = sorted(services)
            async with db.reads() as s:
                spare = list(
                    (
                        await s.scalars(
                            select(Terminal.id).where(Terminal.name == f"bench-k{waiting}")
                        )
                    ).all()
                )
            kiosks_free = spare
            calls: list[str] = []  # sessions clerks are in (offered and accepted here)
            busy_without_call = [
                cid
                for cid in (
                    await _all(db, select(ClerkPresence.clerk_id).order_by(ClerkPresence.clerk_id))
                )
            ]
            timings: list[float] = []
            offer_timings: list[float] = []
            offers = 0

            async def decide() -> None:
                nonlocal offers
                t0 = time.perf_counter()
                made = await claim(db, rules)
                elapsed = (time.perf_counter() - t0) * 1000
                timings.append(elapsed)
                if made:
                    offer_timings.append(elapsed)
                offers += len(made)
                for session, clerk in made:
                    await routing.accept(db, clerk.clerk_id, session.id, "bench")
                    calls.append(session.id)

            for turn in range(decisions):
                if turn % 2 == 0:
                    # a call arrives (from a kiosk whose call ended: one active call a kiosk)
                    if kiosks_free:
                        await arrive(db, kiosks_free.pop(), rng, ids, services)
                else:
                    # a clerk's call ends: they are free
                    if calls and (not busy_without_call or rng.random() < 0.5):
                        ended = calls.pop(rng.randrange(len(calls)))
                        done = await routing.finish(
                            db, ended, state="ended", reason="done", actor="bench"
                        )
                        if done is not None:
                            found = await routing.get(db, ended)
                            if found is not None:
                                kiosks_free.append(found.terminal_id)
                    elif busy_without_call:
                        clerk = busy_without_call.pop(rng.randrange(len(busy_without_call)))
                        await presence.set_clerk_state(db, clerk, "available", ("busy",))
                await decide()
    finally:
        if url is not None:
            await dbutil.drop_pg_database(url)
    return {
        "route_p50_ms": round(pct(timings, 0.5), 2),
        "route_p99_ms": round(pct(timings, 0.99), 2),
        "offer_p99_ms": round(pct(offer_timings, 0.99), 2) if offer_timings else None,
        "decisions": len(timings),
        "offers": offers,
        "waiting": waiting,
        "clerks": clerks,
        "database": database,
        "seeded_s": round(seeded_s, 1),
    }


async def _all(db: Database, statement: Any) -> list[Any]:
    async with db.reads() as s:
        return list((await s.scalars(statement)).all())


async def claim(db: Database, rules: dict[str, SkillRule]) -> list[Any]:
    """One routing round as the server's matcher runs it (a lost race is tried again)."""
    for _ in range(10):
        try:
            return await routing.claim_batch(
                db, offer_timeout_s=30.0, decline_pause_s=10.0, rules=rules
            )
        except routing.RoutingConflict:
            continue
    return []


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("--waiting", type=int, default=10_000, help="calls waiting (10,000)")
    parser.add_argument("--clerks", type=int, default=1_000, help="clerks on duty (1,000)")
    parser.add_argument("--decisions", type=int, default=1_000, help="rounds timed (1,000)")
    parser.add_argument("--seed", type=int, default=15, help="random seed")
    args = parse(parser, smoke={"waiting": 200, "clerks": 40, "decisions": 40})
    out = asyncio.run(run(args.waiting, args.clerks, args.decisions, args.seed))
    print(
        f"{out['decisions']} routing decisions ({out['offers']} offers) with {out['waiting']}"
        f" waiting and {out['clerks']} clerks on {out['database']}:"
        f" p50 {out['route_p50_ms']} ms, p99 {out['route_p99_ms']} ms"
        f" (rounds that offered: p99 {out['offer_p99_ms']} ms; seeding took {out['seeded_s']} s)"
    )
    report(out, KEYS, smoke=args.smoke)
