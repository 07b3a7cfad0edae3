"""The throttles' own rules: the tarpit holds refusals back, within its bound."""

from __future__ import annotations

import asyncio

from signaling.throttle import Tarpit


async def test_a_refusal_is_held_until_its_delay_and_others_queue_beside_it() -> None:
    tarpit = Tarpit(delay_s=60.0, capacity=2)
    held = asyncio.create_task(tarpit.hold(30.0))
    await asyncio.sleep(0)
    assert tarpit.waiting == 1 and not held.done()
    held.cancel()
    await asyncio.gather(held, return_exceptions=True)
    assert tarpit.waiting == 0, "a cancelled hold (a caller that hung up) left its place taken"


async def test_past_its_capacity_refusals_are_answered_at_once() -> None:
    tarpit = Tarpit(delay_s=60.0, capacity=1)
    held = asyncio.create_task(tarpit.hold(60.0))
    await asyncio.sleep(0)
    # would sleep a minute (and time the test out) if the bound were not kept
    await asyncio.wait_for(tarpit.hold(60.0), timeout=30)
    assert tarpit.waiting == 1
    held.cancel()
    await asyncio.gather(held, return_exceptions=True)


async def test_no_delay_and_nothing_to_wait_for_answer_at_once() -> None:
    await asyncio.wait_for(Tarpit(delay_s=0.0).hold(60.0), timeout=30)
    await asyncio.wait_for(Tarpit(delay_s=60.0).hold(0.0), timeout=30)
