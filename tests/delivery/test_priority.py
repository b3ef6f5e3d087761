"""Intake first while contended: while requests queue up, one send at a time with pauses that shrink as the
backlog ages; when the intake is not contended, every sender."""

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from notifier.clock import SystemClock
from notifier.delivery.priority import BASE_SHARE, CONTENDED_AT, DOUBLING, MAX_SHARE, IntakePriority, delivery_share
from tests.clock import FakeClock
from tests.fakes import FakeChatServer
from tests.helpers import every_route, keptn_event, running_service, slack_hook


def one_request(priority: IntakePriority) -> None:
    """A request that arrives and is answered; with `contended_at=1` it makes the intake contended."""
    priority.arrived()
    priority.answered()


def now() -> float:
    return time.time()


async def keep_arriving(priority: IntakePriority, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        one_request(priority)
        await asyncio.sleep(0.005)


async def test_with_no_intake_every_sender_goes_at_once() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=0.05, contended_at=1)
    turns = await asyncio.wait_for(asyncio.gather(*(priority.turn(now()) for _ in range(32))), 1)
    assert turns == [False] * 32  # nobody holds the busy-time slot, nobody waited for it
    assert not priority.busy


async def test_while_events_arrive_one_send_at_a_time_then_a_pause_in_proportion() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=0.2, share=0.25, max_pause=5, contended_at=1)
    arrivals = asyncio.create_task(keep_arriving(priority, 3))
    await asyncio.sleep(0)
    assert priority.busy
    in_slot: list[str] = []
    starts: dict[str, float] = {}

    async def sender(name: str, send_seconds: float) -> None:
        assert await priority.turn(now()) is True
        starts[name] = time.monotonic()
        in_slot.append(name)
        assert len(in_slot) == 1, f"{in_slot} hold the slot together"
        await asyncio.sleep(send_seconds)
        in_slot.remove(name)
        priority.done(starts[name])

    first = asyncio.create_task(sender("first", 0.1))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(sender("second", 0.01))
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    # The first send took 0.1 s: at a share of 1/4 the slot stays closed three times as long.
    assert starts["second"] - starts["first"] >= 0.1 + 0.3 - 0.02
    arrivals.cancel()


async def test_the_pause_is_capped_so_one_slow_send_cannot_hold_delivery_for_long() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=0.5, share=0.1, max_pause=0.2, contended_at=1)
    arrivals = asyncio.create_task(keep_arriving(priority, 3))
    await asyncio.sleep(0)
    assert await priority.turn(now()) is True
    priority.done(time.monotonic() - 1.0)  # a send of 1 s would earn a 9 s pause at a share of 1/10
    started = time.monotonic()
    assert await asyncio.wait_for(priority.turn(now()), 2) is True
    assert time.monotonic() - started < 1.0
    arrivals.cancel()


async def test_when_the_intake_goes_quiet_every_waiting_sender_goes() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=0.1, contended_at=1)
    one_request(priority)
    assert await priority.turn(now()) is True  # holds the slot and never gives it back
    waiting = [asyncio.create_task(priority.turn(now())) for _ in range(10)]
    await asyncio.sleep(0.03)
    assert not any(task.done() for task in waiting)
    assert await asyncio.wait_for(asyncio.gather(*waiting), 2) == [False] * 10
    assert not priority.busy


async def test_close_releases_the_waiting_senders_at_once() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=30, contended_at=1)
    one_request(priority)
    assert await priority.turn(now()) is True
    waiting = [asyncio.create_task(priority.turn(now())) for _ in range(3)]
    await asyncio.sleep(0.01)
    priority.close()
    assert await asyncio.wait_for(asyncio.gather(*waiting), 1) == [False] * 3


async def test_a_sender_cancelled_right_after_its_wake_up_passes_the_slot_on() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=30, share=0.5, max_pause=0, contended_at=1)
    one_request(priority)
    assert await priority.turn(now()) is True
    cancelled = asyncio.create_task(priority.turn(now()))
    other = asyncio.create_task(priority.turn(now()))
    await asyncio.sleep(0.01)
    priority.done(time.monotonic())  # wakes `cancelled` first
    cancelled.cancel()
    assert await asyncio.wait_for(other, 1) is True
    priority.close()


async def test_a_steady_stream_of_events_never_starves_delivery(tmp_path: Path, chat_server: FakeChatServer) -> None:
    config = {"channels": {"hook": {**slack_hook(chat_server.url), "rate_limit": "off"}}, "routes": every_route("hook")}
    async with running_service(tmp_path, config) as svc:
        end = time.monotonic() + 3
        sent = 0
        while time.monotonic() < end:
            # As many at once as make the intake contended (CONTENDED_AT in flight).
            statuses = await asyncio.gather(*(svc.post_json(keptn_event(f"s{sent + i}")) for i in range(CONTENDED_AT)))
            assert all(status == 202 for status, _ in statuses)
            sent += CONTENDED_AT
        during = len(chat_server.received_on("/slack/hook"))
        await chat_server.wait_for(sent, "/slack/hook", timeout=60)
    assert during > 0, "nothing was delivered while events kept arriving"
    assert during < sent, "the intake did not come first"


async def test_a_sender_cancelled_while_holding_the_slot_gives_it_back() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=30, share=0.5, max_pause=5, contended_at=1)
    one_request(priority)
    assert await priority.turn(now()) is True
    priority.done(time.monotonic() - 1)  # the slot stays closed for 1 s
    holder = asyncio.create_task(priority.turn(now()))  # takes the slot, waits out the pause
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(priority.turn(now()))
    await asyncio.sleep(0.01)
    holder.cancel()
    assert await asyncio.wait_for(waiting, 3) is True
    priority.close()


# -- the rule, on a fake clock, in milliseconds ----------------------------------------------------------------

MS = 0.001


def test_delivery_share_doubles_with_the_backlogs_age_up_to_its_cap() -> None:
    assert delivery_share(0) == BASE_SHARE == 0.2
    assert delivery_share(-5) == BASE_SHARE  # a clock step back is no younger than fresh
    assert delivery_share(DOUBLING) == pytest.approx(2 * BASE_SHARE)
    assert delivery_share(DOUBLING / 2) == pytest.approx(BASE_SHARE * 2**0.5)
    assert delivery_share(10 * DOUBLING) == MAX_SHARE == 0.5
    assert delivery_share(0.5, base=0.1, doubling=0.5, most=1.0) == pytest.approx(0.2)


async def test_a_stream_below_the_threshold_never_makes_delivery_wait() -> None:
    clock = FakeClock()
    priority = IntakePriority(clock, contended_at=4)
    for _ in range(100):  # one request every 1.3 ms, each answered after 1 ms: at most one in flight
        priority.arrived()
        assert await priority.turn(clock.time()) is False
        await clock.advance(1 * MS)
        priority.answered()
        await clock.advance(0.3 * MS)
        assert not priority.busy


async def test_requests_queueing_up_make_it_contended_until_the_hold_after_they_drain() -> None:
    clock = FakeClock()
    priority = IntakePriority(clock, quiet_after=20 * MS, contended_at=4)
    for _ in range(3):
        priority.arrived()
    assert not priority.busy
    priority.arrived()
    assert priority.busy and priority.in_flight == 4
    # A slow commit holds them for 100 ms: contended all along, not just for the hold after the last arrival.
    await clock.advance(100 * MS)
    assert priority.busy
    for _ in range(4):
        priority.answered()
    await clock.advance(19 * MS)
    assert priority.busy
    await clock.advance(2 * MS)
    assert not priority.busy


async def test_a_group_commit_answering_everyone_at_once_does_not_let_every_sender_in() -> None:
    clock = FakeClock()
    priority = IntakePriority(clock, quiet_after=20 * MS, contended_at=4)
    for _ in range(10):  # 16 requests in flight, all answered by one commit, then 16 new ones, every 3 ms
        for _ in range(16):
            priority.arrived()
        await clock.advance(2 * MS)
        for _ in range(16):
            priority.answered()
        await clock.advance(1 * MS)
        assert priority.busy
        assert await priority.turn(clock.time()) is True
        priority.done(clock.monotonic())


async def test_an_older_backlog_gets_a_shorter_pause_after_each_send() -> None:
    clock = FakeClock()
    priority = IntakePriority(clock, quiet_after=10.0, contended_at=1, max_pause=5.0)
    priority.arrived()  # stays in flight: contended throughout

    async def pause_after_a_10_ms_send(age: float) -> float:
        assert await priority.turn(clock.time() - age) is True
        started = clock.monotonic()
        await clock.advance(10 * MS)
        priority.done(started)
        ended = clock.monotonic()
        waiting = asyncio.create_task(priority.turn(clock.time()))
        await clock.run_until(waiting.done, within=1.0)
        assert waiting.result() is True
        priority.done(clock.monotonic())  # a send of no time: no pause before the next measurement
        return clock.monotonic() - ended

    # Share 0.2: the slot stays closed four times the send; 0.4 after one doubling: 1.5 times; 0.5 at the cap: once.
    assert await pause_after_a_10_ms_send(0) == pytest.approx(40 * MS)
    assert await pause_after_a_10_ms_send(DOUBLING) == pytest.approx(15 * MS)
    assert await pause_after_a_10_ms_send(100 * DOUBLING) == pytest.approx(10 * MS)
    priority.close()


async def test_waiting_senders_go_at_once_when_contention_ends() -> None:
    clock = FakeClock()
    priority = IntakePriority(clock, quiet_after=20 * MS, contended_at=2)
    priority.arrived()
    priority.arrived()
    assert await priority.turn(clock.time()) is True  # holds the slot
    waiting = [asyncio.create_task(priority.turn(clock.time())) for _ in range(5)]
    await clock.advance(5 * MS)
    assert not any(task.done() for task in waiting)
    priority.answered()
    priority.answered()
    waited = await clock.run_until(lambda: all(task.done() for task in waiting), within=1.0)
    assert waited == pytest.approx(20 * MS)
    assert [task.result() for task in waiting] == [False] * 5


async def test_without_contention_at_most_per_round_sends_start_in_one_round_of_the_loop() -> None:
    priority = IntakePriority(SystemClock(), per_round=4)
    rounds = 0
    started_in: list[int] = []

    def count_rounds() -> None:
        nonlocal rounds
        rounds += 1
        if len(started_in) < 32:
            asyncio.get_running_loop().call_soon(count_rounds)

    async def sender() -> None:
        assert await priority.turn(now()) is False
        started_in.append(rounds)

    asyncio.get_running_loop().call_soon(count_rounds)
    await asyncio.wait_for(asyncio.gather(*(sender() for _ in range(32))), 1)
    per_round = {index: started_in.count(index) for index in set(started_in)}
    assert max(per_round.values()) <= 4, per_round
    assert len(per_round) >= 8, per_round  # 32 sends over at least 8 rounds, none lost


async def test_senders_waiting_for_a_round_start_in_the_order_they_came_and_are_woken_once_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    priority = IntakePriority(SystemClock(), per_round=4)
    loop = asyncio.get_running_loop()
    futures_made = 0
    make_future = loop.create_future

    def counting_create_future() -> asyncio.Future[Any]:
        nonlocal futures_made
        futures_made += 1
        return make_future()

    started: list[int] = []

    async def sender(number: int) -> None:
        assert await priority.turn(now()) is False
        started.append(number)

    monkeypatch.setattr(loop, "create_future", counting_create_future)
    await asyncio.wait_for(asyncio.gather(*(sender(number) for number in range(160))), 5)
    monkeypatch.undo()
    assert started == list(range(160))
    # One wait each for the 156 that found the round full: not one per waiter and round (about 3,000 then).
    assert futures_made <= 160, futures_made


async def test_a_sender_cancelled_while_it_waits_for_a_round_does_not_hold_up_the_ones_behind_it() -> None:
    priority = IntakePriority(SystemClock(), per_round=1)
    first = asyncio.create_task(priority.turn(now()))
    cancelled = asyncio.create_task(priority.turn(now()))
    last = asyncio.create_task(priority.turn(now()))
    await asyncio.sleep(0)
    cancelled.cancel()
    assert await asyncio.wait_for(first, 1) is False
    assert await asyncio.wait_for(last, 1) is False
    assert cancelled.cancelled()
