"""Pacing on a fake clock: the token bucket's burst and rate, and pauses that only ever extend."""

import asyncio

import pytest

from notifier.channels.base import RateLimit
from notifier.clock import SystemClock, wait_for_event
from notifier.delivery.pacing import Pacer
from notifier.store.local import next_slot
from tests.clock import FakeClock


async def send_times(pacer: Pacer, clock: FakeClock, count: int) -> list[float]:
    start = clock.monotonic()
    times: list[float] = []

    async def sender() -> None:
        for _ in range(count):
            await pacer.acquire()
            times.append(round(clock.monotonic() - start, 6))

    task = asyncio.create_task(sender())
    await clock.run_until(task.done)
    return times


async def test_a_burst_goes_at_once_then_the_rate_spaces_the_rest() -> None:
    clock = FakeClock()
    pacer = Pacer(RateLimit(per_second=4, burst=2), clock)
    assert await send_times(pacer, clock, 5) == [0, 0, 0.25, 0.5, 0.75]


async def test_tokens_come_back_while_the_channel_is_quiet_but_never_beyond_the_burst() -> None:
    clock = FakeClock()
    pacer = Pacer(RateLimit(per_second=1, burst=3), clock)
    assert await send_times(pacer, clock, 3) == [0, 0, 0]
    await clock.advance(60)
    assert await send_times(pacer, clock, 4) == [0, 0, 0, 1]


async def test_no_limit_never_waits() -> None:
    clock = FakeClock()
    assert await send_times(Pacer(None, clock), clock, 100) == [0] * 100


async def test_a_pause_holds_every_send_and_a_shorter_one_does_not_shorten_it() -> None:
    clock = FakeClock()
    pacer = Pacer(None, clock)
    pacer.pause(10)
    pacer.pause(2)
    assert pacer.paused_for == 10
    assert await send_times(pacer, clock, 2) == [10, 10]
    assert pacer.paused_for == 0


async def test_waiting_for_an_event_ends_when_it_is_set_or_when_the_time_is_up() -> None:
    clock = FakeClock()
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_for_event(clock, event, 5))
    await clock.advance(4)
    assert not waiting.done()
    await clock.advance(1)
    assert waiting.done() and waiting.result() is False
    waiting = asyncio.create_task(wait_for_event(clock, event, 5))
    await clock.advance(1)
    event.set()
    assert await waiting is True
    assert clock.next_wake is None  # the sleep it no longer needs was cancelled
    assert await wait_for_event(SystemClock(), event, 0) is True


@pytest.mark.parametrize(
    ("due", "now", "burst", "expected"),
    [
        (0.0, 100.0, 1, (100.0, 101.0)),  # quiet: at once
        (101.0, 100.0, 1, (101.0, 102.0)),  # one a second
        (101.0, 100.0, 3, (100.0, 102.0)),  # still within the burst
        (103.0, 100.0, 3, (101.0, 104.0)),  # the burst used up: the steady rate
    ],
)
def test_a_shared_send_slot_keeps_the_rate_and_its_burst(
    due: float, now: float, burst: int, expected: tuple[float, float]
) -> None:
    assert next_slot(due, now, 1.0, burst) == expected
