"""Intake first: while events arrive, one send at a time with pauses; when the intake is quiet, every sender."""

import asyncio
import time
from pathlib import Path

from notifier.clock import SystemClock
from notifier.priority import IntakePriority
from tests.fakes import FakeChatServer
from tests.helpers import every_route, keptn_event, running_service, slack_hook


async def keep_arriving(priority: IntakePriority, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        priority.arrived()
        await asyncio.sleep(0.005)


async def test_with_no_intake_every_sender_goes_at_once() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=0.05)
    turns = await asyncio.wait_for(asyncio.gather(*(priority.turn() for _ in range(32))), 1)
    assert turns == [False] * 32  # nobody holds the busy-time slot, nobody waited for it
    assert not priority.busy


async def test_while_events_arrive_one_send_at_a_time_then_a_pause_in_proportion() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=0.2, share=0.25, max_pause=5)
    arrivals = asyncio.create_task(keep_arriving(priority, 3))
    await asyncio.sleep(0)
    assert priority.busy
    in_slot: list[str] = []
    starts: dict[str, float] = {}

    async def sender(name: str, send_seconds: float) -> None:
        assert await priority.turn() is True
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
    priority = IntakePriority(SystemClock(), quiet_after=0.5, share=0.1, max_pause=0.2)
    arrivals = asyncio.create_task(keep_arriving(priority, 3))
    await asyncio.sleep(0)
    assert await priority.turn() is True
    priority.done(time.monotonic() - 1.0)  # a send of 1 s would earn a 9 s pause at a share of 1/10
    started = time.monotonic()
    assert await asyncio.wait_for(priority.turn(), 2) is True
    assert time.monotonic() - started < 1.0
    arrivals.cancel()


async def test_when_the_intake_goes_quiet_every_waiting_sender_goes() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=0.1)
    priority.arrived()
    assert await priority.turn() is True  # holds the slot and never gives it back
    waiting = [asyncio.create_task(priority.turn()) for _ in range(10)]
    await asyncio.sleep(0.03)
    assert not any(task.done() for task in waiting)
    assert await asyncio.wait_for(asyncio.gather(*waiting), 2) == [False] * 10
    assert not priority.busy


async def test_close_releases_the_waiting_senders_at_once() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=30)
    priority.arrived()
    assert await priority.turn() is True
    waiting = [asyncio.create_task(priority.turn()) for _ in range(3)]
    await asyncio.sleep(0.01)
    priority.close()
    assert await asyncio.wait_for(asyncio.gather(*waiting), 1) == [False] * 3


async def test_a_sender_cancelled_right_after_its_wake_up_passes_the_slot_on() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=30, share=0.5, max_pause=0)
    priority.arrived()
    assert await priority.turn() is True
    cancelled = asyncio.create_task(priority.turn())
    other = asyncio.create_task(priority.turn())
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
            statuses = await asyncio.gather(*(svc.post_json(keptn_event(f"s{sent + i}")) for i in range(4)))
            assert all(status == 202 for status, _ in statuses)
            sent += 4
        during = len(chat_server.received_on("/slack/hook"))
        await chat_server.wait_for(sent, "/slack/hook", timeout=60)
    assert during > 0, "nothing was delivered while events kept arriving"
    assert during < sent, "the intake did not come first"


async def test_a_sender_cancelled_while_holding_the_slot_gives_it_back() -> None:
    priority = IntakePriority(SystemClock(), quiet_after=30, share=0.5, max_pause=5)
    priority.arrived()
    assert await priority.turn() is True
    priority.done(time.monotonic() - 1)  # the slot stays closed for 1 s
    holder = asyncio.create_task(priority.turn())  # takes the slot, waits out the pause
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(priority.turn())
    await asyncio.sleep(0.01)
    holder.cancel()
    assert await asyncio.wait_for(waiting, 3) is True
    priority.close()
