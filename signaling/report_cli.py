"""``vcounter report work``: occupancy and handling time per clerk and per service."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import click

from signaling.catalogue import load_catalogue
from signaling.settings import Settings
from signaling.supervisor_messages import WorkFigures
from signaling.work_figures import work_figures
from storage.db import Database
from storage.errors import VcounterError


def _when(value: str | None, name: str, default: datetime) -> datetime:
    if not value:
        return default
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not a date or time; use ISO 8601, e.g. 2026-12-01 or 2026-12-01T09:00",
            param_hint=f"--{name}",
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(figures: WorkFigures) -> str:
    """The report as two plain tables (per clerk, per service), times as h:mm:ss."""
    out = [f"Work from {figures.since.isoformat()} until {figures.until.isoformat()}", ""]
    clerk_rows = [["clerk", "on duty", "talk", "wrap-up", "away", "calls", "occupancy"]]
    for c in figures.clerks:
        away = sum(c.away_s.values())
        reasons = ", ".join(f"{k} {_hms(v)}" for k, v in c.away_s.items())
        clerk_rows.append(
            [
                c.username,
                _hms(c.on_duty_s),
                _hms(c.talk_s),
                _hms(c.wrap_up_s),
                _hms(away) + (f" ({reasons})" if reasons else ""),
                str(c.calls),
                "-" if c.occupancy is None else f"{c.occupancy * 100:.1f} %",
            ]
        )
    out += [_table(clerk_rows) if figures.clerks else "No clerk was on duty.", ""]
    service_rows = [["service", "calls", "avg talk", "avg wrap-up", "avg handling"]]
    for s in figures.services:
        service_rows.append(
            [
                s.service_id,
                str(s.calls),
                _hms(s.average_talk_s),
                _hms(s.average_wrap_up_s),
                _hms(s.average_handling_s),
            ]
        )
    out.append(_table(service_rows) if figures.services else "No calls.")
    return "\n".join(out)


@click.group()
def report() -> None:
    """Reports over a period, from the store."""


@report.command("work")
@click.option("--since", default=None, help="Start, ISO 8601 (default: today 00:00 UTC).")
@click.option("--until", default=None, help="End, ISO 8601 (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def report_work(ctx: click.Context, since: str | None, until: str | None, as_json: bool) -> None:
    """Per clerk: time on duty, talk, wrap-up, away by reason, calls, occupancy
    ((talk + wrap-up) / (on duty - away)); per service: calls and average talk, wrap-up and
    handling time."""
    settings: Settings = ctx.obj["settings"]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    start = _when(since, "since", now.replace(hour=0, minute=0, second=0, microsecond=0))
    end = _when(until, "until", now + timedelta(seconds=1))
    catalogue = load_catalogue()

    async def run() -> WorkFigures:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            return await work_figures(db, catalogue, start, end)

    try:
        figures = asyncio.run(run())
    except VcounterError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    click.echo(figures.model_dump_json(indent=2) if as_json else render(figures))
