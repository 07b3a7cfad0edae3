"""The work report (:mod:`storage.work_report`) as the supervisor API and the CLI give it."""

from __future__ import annotations

from datetime import datetime

from signaling.catalogue import Catalogue
from signaling.errors import UnknownService
from signaling.supervisor_messages import ClerkWorkFigure, ServiceWorkFigure, WorkFigures
from storage.db import Database
from storage.work_report import work_report


async def work_figures(
    db: Database, catalogue: Catalogue, since: datetime, until: datetime
) -> WorkFigures:
    """Per clerk and per service, over ``since``..``until``; raises InvalidValue if the
    period ends before it starts."""
    report = await work_report(db, since, until)
    services = []
    for s in report.services:
        try:
            name = catalogue.service(s.service_id).names
        except UnknownService:
            name = None  # a service since dropped from the catalogue: its id is shown
        services.append(
            ServiceWorkFigure(
                service_id=s.service_id,
                service_name=name,
                calls=s.calls,
                average_talk_s=round(s.average_talk_s, 1),
                average_wrap_up_s=round(s.average_wrap_up_s, 1),
                average_handling_s=round(s.average_handling_s, 1),
            )
        )
    clerks = [
        ClerkWorkFigure(
            clerk_id=c.clerk_id,
            username=c.username,
            display_name=c.display_name,
            on_duty_s=round(c.on_duty_s, 1),
            talk_s=round(c.talk_s, 1),
            wrap_up_s=round(c.wrap_up_s, 1),
            away_s={k: round(v, 1) for k, v in sorted(c.away_s.items())},
            calls=c.calls,
            occupancy=round(c.occupancy, 4) if c.occupancy is not None else None,
        )
        for c in report.clerks
    ]
    return WorkFigures(since=since, until=until, clerks=clerks, services=services)
