"""Whose link broke, from what each side reported of a break in the call's media."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from storage.media_breaks import whose_link

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def reported(at_s: float, stalled_ms: int) -> dict[str, Any]:
    return {"at": (T0 + timedelta(seconds=at_s)).isoformat(), "stalled_ms": stalled_ms}


def test_a_report_that_came_late_came_over_the_broken_link() -> None:
    # the kiosk noticed after 1 s like the clerk, but its report reached the server 5 s later
    late_kiosk = {"reports": {"clerk": reported(1, 1000), "terminal": reported(6, 1000)}}
    assert whose_link(late_kiosk, set()) == "terminal"
    late_clerk = {"reports": {"clerk": reported(4.5, 1200), "terminal": reported(1.2, 1000)}}
    assert whose_link(late_clerk, set()) == "clerk"


def test_reports_that_came_together_blame_the_network_between() -> None:
    together = {"reports": {"clerk": reported(1, 1000), "terminal": reported(1.5, 1300)}}
    assert whose_link(together, set()) == "network"
    # one side saw nothing wrong (media still reached it): no side to blame
    one = {"reports": {"clerk": reported(1, 1000)}}
    assert whose_link(one, set()) == "network"


def test_a_side_whose_socket_dropped_during_the_break_is_the_one() -> None:
    brk = {"reports": {"clerk": reported(1, 1000)}, "offline": {"terminal": True}}
    assert whose_link(brk, set()) == "terminal"
    assert whose_link({"reports": {}}, {"clerk"}) == "clerk"
    # both gone: nothing tells them apart
    assert whose_link({"reports": {}, "offline": {"terminal": True}}, {"clerk"}) == "network"


def test_the_one_side_not_heard_from_since_the_break_began_is_the_one() -> None:
    # the kiosk was asked how its media stands and never answered: it cannot reach the server
    brk = {"opened": T0.isoformat(), "reports": {"clerk": reported(1, 1000)}}
    assert whose_link(brk, set(), T0 + timedelta(seconds=10)) == "terminal"
    # too soon to tell: the answer may be on its way
    assert whose_link(brk, set(), T0 + timedelta(seconds=2)) == "network"
    # it answered that it still receives: a one-way break, on the path between them
    answered = {**brk, "heard": ["terminal"]}
    assert whose_link(answered, set(), T0 + timedelta(seconds=10)) == "network"
