"""A channel worker on the in-memory store, a scripted fake channel and a fake clock: no real waiting at all."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest

from notifier.channels.base import RateLimit, SendResult
from notifier.delivery.compose import Composer
from notifier.delivery.pacing import Pacer
from notifier.delivery.priority import IntakePriority
from notifier.delivery.results import RetryPolicy
from notifier.delivery.worker import LEASE, ChannelWorker
from notifier.message import MessageRef, Payload
from notifier.metrics import Metrics
from notifier.redact import Redactor
from notifier.silences.active import ActiveSilences
from notifier.silences.silence import new_silence
from notifier.silences.summary import summary_event
from notifier.store import ChannelPace, Incoming, MutedCount, Outgoing, Retention, Sent, SilenceRecord, SilenceStore
from notifier.templating import TemplateLimits, TemplateSet
from tests.clock import FakeClock
from tests.helpers import keptn_event
from tests.memory_store import MemoryStore, memory_storage

CHANNEL = "fake"


@dataclass
class FakeChannel:
    """Answers each send with the next scripted result (then `sent`), and notes when each send came."""

    clock: FakeClock
    script: deque[SendResult] = field(default_factory=deque)
    sends: list[tuple[float, str]] = field(default_factory=list)
    name: str = CHANNEL
    format: str = "text"

    async def send(
        self, payload: Payload, *, reply_to: MessageRef | None = None, replace: MessageRef | None = None
    ) -> SendResult:
        assert reply_to is None and replace is None
        assert isinstance(payload, str)
        run = re.search(r"ctx-\w+", payload)
        assert run is not None, payload
        self.sends.append((self.clock.monotonic(), run.group()))
        return self.script.popleft() if self.script else SendResult.sent("ok")


@dataclass
class Rig:
    clock: FakeClock
    store: MemoryStore
    pace: ChannelPace
    channel: FakeChannel
    metrics: Metrics
    worker: ChannelWorker
    start: float
    silences: ActiveSilences
    silence_store: SilenceStore

    async def accept(self, *runs: str, group: str = "") -> None:
        items = []
        for run in runs:
            event = keptn_event(run, project=f"ctx-{run}")
            key = f"{event['source']}\x1f{event['id']}"
            notification = Outgoing(CHANNEL, "r", None, group=group, note="digest" if group else "")
            items.append(Incoming(key, event["type"], f"ctx-{run}", orjson.dumps(event), [notification]))
        await self.store.accept(items)
        self.worker.wake()

    def send_times(self) -> list[float]:
        return [round(at - self.start, 6) for at, _ in self.channel.sends]

    def count(self, metric: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(f"keptn_notifier_{metric}_total", {"channel": CHANNEL, **labels})
        return value or 0.0


@pytest.fixture
def policy() -> RetryPolicy:
    return RetryPolicy(initial=2.0, maximum=10.0, max_age=3600.0)


@pytest.fixture
def rate_limit() -> RateLimit | None:
    return None


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet(None, "", TemplateLimits())


@pytest.fixture
async def rig(policy: RetryPolicy, rate_limit: RateLimit | None, templates: TemplateSet) -> AsyncIterator[Rig]:
    clock = FakeClock()
    storage = memory_storage(clock, Retention(3600, 100_000))
    store = storage.store
    assert isinstance(store, MemoryStore)
    await store.open()
    channel = FakeChannel(clock)
    metrics = Metrics()
    silences = ActiveSilences(storage.silences, clock, metrics)
    worker = ChannelWorker(
        CHANNEL,
        channel,
        Pacer(rate_limit, clock),
        store,
        storage.pace,
        Composer(templates, metrics),
        policy,
        metrics,
        Redactor([]),
        1,
        IntakePriority(clock),
        clock,
        silences=silences,
    )
    running = asyncio.create_task(worker.run())
    yield Rig(clock, store, storage.pace, channel, metrics, worker, clock.monotonic(), silences, storage.silences)
    await worker.stop(0)
    await running
    await store.close()


async def test_each_notification_is_sent_once_and_recorded_as_sent(rig: Rig) -> None:
    await rig.accept("a", "b", "c")
    await rig.clock.run_until(lambda: rig.count("notifications_sent") == 3)
    assert [run for _, run in rig.channel.sends] == ["ctx-a", "ctx-b", "ctx-c"]
    assert rig.send_times() == [0, 0, 0]
    assert await rig.store.stats() == {}
    await rig.clock.advance(3600)
    assert len(rig.channel.sends) == 3


@pytest.mark.parametrize("rate_limit", [RateLimit(per_second=100, burst=5)])
async def test_retry_after_pauses_the_whole_channel_for_exactly_that_long(rig: Rig) -> None:
    rig.channel.script.append(SendResult.retry("rate_limited", "HTTP 429", retry_after=30))
    await rig.accept("a", "b", "c")
    await rig.clock.run_until(lambda: rig.count("notifications_sent") == 3)
    assert rig.send_times()[0] == 0
    assert all(at >= 30 for at in rig.send_times()[1:])
    assert sorted(run for _, run in rig.channel.sends) == ["ctx-a", "ctx-a", "ctx-b", "ctx-c"]
    assert rig.count("notifications_failed", reason="rate_limited") == 1
    assert rig.count("notifications_retries") == 1


async def test_the_backoff_doubles_up_to_its_cap_and_starts_again_after_a_success(rig: Rig) -> None:
    rig.channel.script.extend([SendResult.retry("server_error", "HTTP 500")] * 5)
    await rig.accept("a")
    await rig.clock.run_until(lambda: rig.count("notifications_sent") == 1)
    times = rig.send_times()
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # 2, 4, 8, 10, 10 seconds, each times a jitter from 0.5 to 1
    for gap, step in zip(gaps, [2, 4, 8, 10, 10], strict=True):
        assert step * 0.5 <= gap <= step + 1e-6, (gaps, step)
    rig.channel.script.append(SendResult.retry("server_error", "HTTP 500"))
    await rig.accept("b")
    await rig.clock.run_until(lambda: rig.count("notifications_sent") == 2)
    first_try, second_try = rig.send_times()[-2:]
    assert 1 <= second_try - first_try <= 2  # back to the first step


@pytest.mark.parametrize("policy", [RetryPolicy(initial=2.0, maximum=10.0, max_age=60.0)])
async def test_a_notification_failing_past_the_maximum_age_is_parked_as_expired(rig: Rig) -> None:
    rig.channel.script.extend([SendResult.retry("server_error", "HTTP 500")] * 100)
    await rig.accept("a")
    elapsed = await rig.clock.run_until(lambda: rig.count("notifications_dead", reason="expired") == 1)
    (letter,) = await rig.store.dead_letters()
    assert letter.reason.startswith("expired: still failing after the maximum age: server_error")
    assert letter.attempts == len(rig.channel.sends)
    assert 50 <= elapsed <= 60
    await rig.clock.advance(3600)
    assert letter.attempts == len(rig.channel.sends)


async def test_a_permanent_failure_parks_the_notification_after_one_send(rig: Rig) -> None:
    rig.channel.script.append(SendResult.dead("no_service", "HTTP 404: no_service"))
    await rig.accept("a", "b")
    await rig.clock.run_until(lambda: rig.count("notifications_sent") == 1)
    await rig.clock.advance(3600)
    assert len(rig.channel.sends) == 2
    (letter,) = await rig.store.dead_letters()
    assert (letter.reason, letter.attempts) == ("no_service: HTTP 404: no_service", 1)
    assert rig.count("notifications_dead", reason="no_service") == 1


async def test_a_notification_another_consumer_holds_waits_for_its_lease(rig: Rig) -> None:
    await rig.accept("a")
    (held,) = await rig.store.claim(CHANNEL, 1, 90)
    await rig.accept("b")
    await rig.clock.run_until(lambda: len(rig.channel.sends) == 1)
    assert [run for _, run in rig.channel.sends] == ["ctx-b"]
    await rig.clock.run_until(lambda: len(rig.channel.sends) == 2)
    assert rig.send_times()[1] >= 90
    # the other consumer's claim lapsed: what it records now changes nothing
    await rig.store.finish([Sent(held.claim, rig.clock.time())])
    assert rig.count("notifications_sent") == 2 and await rig.store.stats() == {}


@pytest.mark.parametrize("rate_limit", [RateLimit(per_second=1, burst=1)])
async def test_stopping_gives_back_what_the_worker_claimed_but_did_not_send(rig: Rig) -> None:
    await rig.accept(*"abcde")
    await rig.clock.run_until(lambda: len(rig.channel.sends) == 2)
    await rig.worker.stop(0)
    given_back = await rig.store.claim(CHANNEL, 10, LEASE)
    assert sorted(item.keptn_context for item in given_back) == ["ctx-c", "ctx-d", "ctx-e"]


async def test_a_claim_that_ran_low_while_the_channel_was_paused_is_given_back_not_sent(rig: Rig) -> None:
    # The first send is throttled for longer than a lease: the other two wait in the buffer meanwhile.
    rig.channel.script.append(SendResult.retry("rate_limited", "HTTP 429", retry_after=LEASE + 100))
    await rig.accept("a", "b", "c")
    await rig.clock.run_until(lambda: len(rig.channel.sends) == 1)
    await rig.clock.advance(LEASE + 1)
    # another consumer takes what the paused worker's lapsed claims no longer protect
    taken = await rig.store.claim(CHANNEL, 10, 3 * LEASE)
    assert sorted(item.keptn_context for item in taken) == ["ctx-b", "ctx-c"]
    await rig.clock.run_until(lambda: rig.count("notifications_sent") == 1)
    await rig.clock.advance(LEASE)
    assert [run for _, run in rig.channel.sends] == ["ctx-a", "ctx-a"]


async def test_a_pause_another_replica_shared_through_the_store_holds_this_worker_too(rig: Rig) -> None:
    await rig.pace.pause(CHANNEL, rig.clock.time() + 30)
    await rig.accept("a")
    waited = await rig.clock.run_until(lambda: rig.count("notifications_sent") == 1)
    assert rig.send_times() == [30] and waited == 30


async def test_a_retry_after_this_worker_is_told_is_shared_through_the_store(rig: Rig) -> None:
    rig.channel.script.append(SendResult.retry("rate_limited", "HTTP 429", retry_after=12))
    await rig.accept("a")
    told = rig.clock.time()
    await rig.clock.run_until(lambda: rig.count("notifications_failed", reason="rate_limited") == 1)
    assert await rig.pace.pause(CHANNEL) == told + 12


# -- silences: a backlog queued before a silence is muted when its turn comes --------------------------------------


async def silence(rig: Rig, *matchers: str) -> str:
    now = rig.clock.time()
    made = new_silence(
        list(matchers), ends=now + 3600, created_by="alice", comment="ctx-maintenance", now=now, max_duration=86400
    )
    await rig.silences.add(made)
    return made.id


async def test_a_queued_notification_a_silence_mutes_is_finished_as_sent_without_being_sent(rig: Rig) -> None:
    # Queued behind a throttled send: the silence comes while they wait.
    rig.channel.script.append(SendResult.retry("rate_limited", "HTTP 429", retry_after=30))
    await rig.accept("a", "b", "c")
    await rig.clock.run_until(lambda: len(rig.channel.sends) == 1)
    muting = await silence(rig, "project=~ctx-[ab]")
    await rig.clock.run_until(lambda: rig.count("notifications_sent") == 1)
    await rig.clock.advance(3600)
    assert [run for _, run in rig.channel.sends] == ["ctx-a", "ctx-c"]
    assert await rig.store.stats() == {} and await rig.store.dead_letters() == []
    assert rig.count("notifications_silenced", route="r") == 2
    assert [count.count for count in await rig.silence_store.muted(muting)] == [2]


async def test_a_group_keeps_what_no_silence_mutes_and_goes_whole_when_all_is_muted(rig: Rig) -> None:
    await silence(rig, "project=ctx-b")
    await rig.accept("a", "b", group="g1")
    await rig.clock.run_until(lambda: rig.count("notifications_sent") == 1)
    # the digest of the one left is that notification
    assert [run for _, run in rig.channel.sends] == ["ctx-a"]
    await rig.accept("x", "b2", group="g2")
    await silence(rig, "project=ctx-x")
    await rig.clock.advance(3600)
    assert len(rig.channel.sends) == 2 and rig.channel.sends[1][1] == "ctx-b2"
    await silence(rig, "project=~ctx-[yz]")
    await rig.accept("y", "z", group="g3")
    await rig.clock.advance(3600)
    assert len(rig.channel.sends) == 2 and await rig.store.stats() == {}
    assert rig.count("notifications_silenced", route="r") == 4


async def test_a_silence_never_mutes_a_summary(rig: Rig) -> None:
    now = rig.clock.time()
    everything = new_silence([], ends=now + 60, created_by="a", comment="c", now=now, max_duration=60, everything=True)
    await rig.silences.add(everything)
    ended = SilenceRecord("s-1", ("stage=production",), now - 60, now, "alice", "ctx-maintenance")
    await rig.store.accept([summary_event(ended, [MutedCount(CHANNEL, "Evaluation/failed/failure", 3)], now)])
    rig.worker.wake()
    await rig.clock.run_until(lambda: rig.count("notifications_sent") == 1)
    assert rig.count("notifications_silenced", route="") == 0
