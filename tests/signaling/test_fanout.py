"""Which changes of place are sent to a waiting kiosk at once, and which wait for a refresh."""

from __future__ import annotations

from signaling.fanout import DEEP_REFRESH_S, NEAR_PLACES, Place, is_news


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
