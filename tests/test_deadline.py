"""The async test deadline: a stuck body fails naming its await; its own time-outs pass through."""

from __future__ import annotations

import asyncio

import pytest

from tests.deadline import TestDeadline, backstop, test_timeout, with_deadline


async def test_a_stuck_body_fails_at_its_deadline_naming_where_it_waited() -> None:
    never = asyncio.Event()
    encoder_ran = asyncio.Event()

    async def busy_encoder() -> None:
        while True:  # the kind of task pytest-timeout's alarm used to kill instead of the test
            encoder_ran.set()
            await asyncio.sleep(0.01)

    async def waits_for_a_screen_that_never_comes() -> None:
        await never.wait()

    encoder = asyncio.get_running_loop().create_task(busy_encoder(), name="video-encoder")
    try:
        with pytest.raises(TestDeadline) as failed:
            await with_deadline(waits_for_a_screen_that_never_comes, 0.2)()
    finally:
        encoder.cancel()
    assert encoder_ran.is_set()
    assert "did not finish within 0.2 s" in str(failed.value)
    assert "video-encoder" in str(failed.value)  # the other tasks are named
    cancelled = failed.value.__cause__
    assert isinstance(cancelled, TimeoutError)
    # the chained traceback reaches the await the body was stuck in
    frames = []
    tb = cancelled.__context__.__traceback__ if cancelled.__context__ else None
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert "waits_for_a_screen_that_never_comes" in frames


async def test_a_time_out_of_the_test_itself_is_not_taken_for_the_deadline() -> None:
    async def times_out_on_its_own() -> None:
        await asyncio.wait_for(asyncio.Event().wait(), 0.01)

    with pytest.raises(TimeoutError) as raised:
        await with_deadline(times_out_on_its_own, 5.0)()
    assert not isinstance(raised.value, TestDeadline)


async def test_a_body_in_time_runs_to_its_end() -> None:
    finished = []

    async def quick(value: int) -> None:
        await asyncio.sleep(0)
        finished.append(value)

    await with_deadline(quick, 5.0)(7)
    assert finished == [7]


def test_every_async_test_here_runs_under_a_deadline(request: pytest.FixtureRequest) -> None:
    session = request.session
    bounded = [
        item
        for item in session.items
        if isinstance(item, pytest.Function) and item.module is not None
        and item.module.__name__ == __name__ and item.name.startswith("test_a_")
    ]  # fmt: skip
    assert bounded and all(hasattr(item.obj, "__wrapped__") for item in bounded)
    # the body keeps the whole bound; pytest-timeout, the backstop, waits a minute more
    assert {test_timeout(item) for item in bounded} == {backstop(300.0)}
