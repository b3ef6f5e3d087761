"""A channel a reload removed: its queue becomes dead letters on the in-memory store, as it comes due, and
nothing of another channel is touched."""

from __future__ import annotations

import asyncio

import orjson

from notifier.delivery.retire import REMOVED, REMOVED_LABEL, RetiredChannel
from notifier.metrics import Metrics
from notifier.store import Incoming, Outgoing, Retention
from tests.clock import FakeClock
from tests.helpers import keptn_event
from tests.memory_store import MemoryStore

GONE = "gone"


def incoming(event_id: str, *notifications: Outgoing) -> Incoming:
    event = keptn_event(event_id)
    return Incoming(f"test\x1f{event_id}", event["type"], f"ctx-{event_id}", orjson.dumps(event), notifications)


def parked(metrics: Metrics) -> float:
    labels = {"channel": GONE, "reason": REMOVED_LABEL}
    return metrics.registry.get_sample_value("keptn_notifier_notifications_dead_total", labels) or 0.0


async def test_every_queued_notification_of_a_removed_channel_becomes_a_dead_letter_when_due() -> None:
    clock = FakeClock()
    store = MemoryStore(clock, Retention(3600, 1000))
    await store.open()
    later = clock.time() + 600
    await store.accept(
        [
            incoming("due", Outgoing(GONE, "r", None), Outgoing("kept", "r", None)),
            # An order key hands out one at a time: the second only once the first is finished.
            incoming("run-1", Outgoing(GONE, "r", None, order="run")),
            incoming("run-2", Outgoing(GONE, "r", None, order="run")),
            # A digest group is one claim for its two notifications.
            incoming("held-1", Outgoing(GONE, "r", None, group="digest")),
            incoming("held-2", Outgoing(GONE, "r", None, group="digest")),
            incoming("retrying", Outgoing(GONE, "r", None, due=later)),
        ]
    )
    metrics = Metrics()
    retired = RetiredChannel(GONE, store, metrics, clock)
    running = asyncio.create_task(retired.run())
    await clock.run_until(lambda: parked(metrics) == 5)
    assert (await store.stats())[GONE].pending == 1, "what is not due yet waits for its time"
    await clock.run_until(lambda: parked(metrics) == 6, within=601)
    letters = await store.dead_letters()
    assert len(letters) == 6 and {(letter.channel, letter.reason) for letter in letters} == {(GONE, REMOVED)}
    assert GONE not in await store.stats() and (await store.stats())["kept"].pending == 1

    # Retried while the channel is still not configured: parked again, never sent, never lost.
    assert await store.retry_dead(None) == 6
    retired.wake()
    await clock.run_until(lambda: parked(metrics) == 12)
    assert len(await store.dead_letters()) == 6

    await retired.stop(5)
    await asyncio.wait_for(running, 1)
    await store.close()
