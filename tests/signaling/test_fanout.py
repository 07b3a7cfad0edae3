"""Which changes of place are sent to a waiting kiosk at once, and which wait for a refresh."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from signaling.catalogue import load_catalogue
from signaling.fanout import DEEP_REFRESH_S, NEAR_PLACES, Place, QueueNotifier, is_news
from signaling.messages import Event, QueueStatus
from storage import routing
from tests import dbutil
from tests.signaling.test_router import Outbox, make_db, prepare, queue_each


def place(position: int, **kw: object) -> Place:
    fields: dict[str, object] = {
        "state": "queued", "estimated_wait_s": 600, "clerks_on_duty": 3, "version": 1,
    }  # fmt: skip
    fields.update(kw)
    return Place(position, **fields)  # type: ignore[arg-type]


def test_the_first_place_is_always_sent_and_the_same_place_never_again() -> None:
    assert is_news(None, place(900), 0.0)
    assert not is_news(place(3), place(3), 3600.0)
    assert not is_news(place(900), place(900), 3600.0)


def test_near_the_front_every_move_is_sent_at_once() -> None:
    assert is_news(place(NEAR_PLACES + 1), place(NEAR_PLACES), 0.0)
    assert is_news(place(2), place(1), 0.0)
    assert is_news(place(2), place(2, estimated_wait_s=60), 0.0)


def test_further_back_a_move_waits_for_the_refresh() -> None:
    assert not is_news(place(843), place(838), 1.0)
    assert not is_news(place(843), place(843, estimated_wait_s=540), DEEP_REFRESH_S - 0.1)
    assert is_news(place(843), place(838), DEEP_REFRESH_S)


def test_a_change_of_state_or_of_clerks_on_duty_is_sent_at_once_wherever_the_kiosk_is() -> None:
    assert is_news(place(500), place(0, state="offered", version=2), 0.0)
    assert is_news(place(500), place(500, version=2), 0.0)  # its own session changed
    assert is_news(place(500), place(500, clerks_on_duty=0, estimated_wait_s=None), 0.0)
    assert is_news(place(500, clerks_on_duty=0, estimated_wait_s=None), place(500), 0.0)
    assert not is_news(place(500), place(500, clerks_on_duty=4), 0.0)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_far_places_are_refreshed_a_few_at_a_time_not_all_in_one_round(
    tmp_path: Path, backend: str
) -> None:
    """Forty waiting, the head leaving every second: every place moves every round; the far
    ones, first told in the same round, must not stay due in the same round for good."""
    catalogue = load_catalogue()
    db, url = await make_db(tmp_path, backend)
    try:
        async with db:
            ids = await prepare(db, catalogue, 40)
            await queue_each(db, catalogue, ids)
            outbox = Outbox()
            outbox.local = {f"sid{t}": f"t{t}" for t in ids}
            now = [0.0]
            notifier = QueueNotifier(
                db, outbox, catalogue, lambda: {t: f"sid{t}" for t in ids}, clock=lambda: now[0]
            )
            far_per_round: Counter[int] = Counter()
            for second in range(16):
                now[0] = float(second)
                outbox.sent.clear()
                await notifier.flush()
                for _, _, event, message in outbox.sent:
                    assert event == Event.QUEUE_STATUS and isinstance(message, QueueStatus)
                    if message.position > NEAR_PLACES:
                        far_per_round[second] += 1
                await routing.finish(
                    db, f"{second:032x}", state="cancelled", reason="cancelled", actor="test"
                )
            assert far_per_round[0] == 40 - NEAR_PLACES  # everybody is told first
            later = [far_per_round[s] for s in range(1, 16)]
            assert sum(later) > 0, "far places were never refreshed"
            # refreshed every 5-7.5 s, spread over the rounds: never the whole cohort at once
            assert max(later) < 0.75 * (40 - NEAR_PLACES), later
    finally:
        if url:
            await dbutil.drop_pg_database(url)
