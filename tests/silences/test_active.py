"""The silences a replica applies and the summary when one ends, on the test double of the store and a fake clock."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import orjson
import pytest

from notifier.keptn.events import event_from_mapping
from notifier.metrics import Metrics
from notifier.silences.active import REFRESH_INTERVAL, SUMMARY_DELAY, ActiveSilences
from notifier.silences.silence import Silence, new_silence
from notifier.silences.summary import SUMMARY_NOTE, SUMMARY_TYPE, summary_message
from notifier.store import MutedCount, Retention, Sent, SilenceRecord, SilenceStore, Storage
from tests.clock import FakeClock
from tests.helpers import keptn_event
from tests.memory_store import FORGET_INTERVAL, memory_storage

HOUR = 3600.0
FAILED = event_from_mapping(keptn_event("e-1"))
PASSED = event_from_mapping(keptn_event("e-2", "sh.keptn.event.deployment.finished", result="pass"))
STAGING = event_from_mapping(keptn_event("e-3", stage="staging"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def storage(clock: FakeClock) -> Storage:
    storage = memory_storage(clock, Retention(window=60, max_entries=1000))
    await storage.store.open()
    return storage


def replica(storage: Storage, clock: FakeClock) -> ActiveSilences:
    return ActiveSilences(storage.silences, clock, Metrics())


def silence(clock: FakeClock, *matchers: str, **given: object) -> Silence:
    arguments: dict[str, object] = {
        "ends": clock.time() + HOUR,
        "created_by": "alice",
        "comment": "maintenance",
        "now": clock.time(),
        "max_duration": 7 * 86400.0,
        **given,
    }
    return new_silence(list(matchers), **arguments)  # type: ignore[arg-type]


def silenced(metrics: Metrics, route: str, channel: str) -> float:
    value = metrics.registry.get_sample_value(
        "keptn_notifier_notifications_silenced_total", {"route": route, "channel": channel}
    )
    return value or 0.0


async def test_a_silence_mutes_what_it_matches_from_its_start_until_its_end(storage: Storage, clock: FakeClock) -> None:
    active = replica(storage, clock)
    assert active.idle and active.muting(FAILED, "a", "r") is None
    production = silence(clock, "stage=production", "channel!=b", starts=clock.time() + 60)
    await active.add(production)
    assert not active.idle
    assert active.muting(FAILED, "a", "r") is None  # not yet
    await clock.advance(60)
    assert active.muting(FAILED, "a", "r") == production
    assert active.muting(FAILED, "b", "r") is None
    assert active.muting(STAGING, "a", "r") is None
    await clock.advance(HOUR - 60)
    assert active.muting(FAILED, "a", "r") is None  # ended


async def test_a_silence_written_elsewhere_applies_at_the_next_refresh(storage: Storage, clock: FakeClock) -> None:
    here, elsewhere = replica(storage, clock), replica(storage, clock)
    one = silence(clock, "stage=production")
    await storage.silences.put(one.record())  # as the CLI writes it
    await elsewhere.add(silence(clock, "service=orders"))
    assert here.muting(FAILED, "a", "r") is None
    await here.refresh()
    assert here.muting(FAILED, "a", "r") == one
    # and an expire through another replica too
    assert await elsewhere.expire(one.id) is not None
    assert elsewhere.muting(FAILED, "a", "r") is None
    assert here.muting(FAILED, "a", "r") == one
    await here.refresh()
    assert here.muting(FAILED, "a", "r") is None
    assert await here.expire("nobody") is None


async def test_a_stored_silence_this_release_cannot_read_is_said_once_and_the_others_apply(
    storage: Storage, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    good = silence(clock, "stage=production")
    await storage.silences.put(replace(good.record(), id="later", matchers=("colour=red",)))
    await storage.silences.put(good.record())
    active = replica(storage, clock)
    with caplog.at_level(logging.ERROR, logger="notifier.silences"):
        await active.refresh()
        await active.refresh()
    assert active.muting(FAILED, "a", "r") == good
    assert [record.getMessage() for record in caplog.records] == [
        "silence later is not applied: unknown field 'colour': use type, source, subject, shkeptncontext, project, "
        "stage, service, result, status, message, channel, route or label:<name> (e.g. label:team)"
    ]


async def test_what_a_silence_mutes_is_counted_in_the_metric_and_by_kind(storage: Storage, clock: FakeClock) -> None:
    metrics = Metrics()
    active = ActiveSilences(storage.silences, clock, metrics)
    one = silence(clock, "project=sockshop")
    await active.add(one)
    for event in (FAILED, FAILED, PASSED):
        await active.muted(one.id, event, "prod", "a")
    await active.muted(one.id, FAILED, "prod", "b")
    assert (silenced(metrics, "prod", "a"), silenced(metrics, "prod", "b")) == (3, 1)
    assert await storage.silences.muted(one.id) == [
        MutedCount("a", "Deployment/passed/success", 1),
        MutedCount("a", "Evaluation/failed/failure", 2),
        MutedCount("b", "Evaluation/failed/failure", 1),
    ]


async def ended_with_counts(storage: Storage, clock: FakeClock, active: ActiveSilences, **given: object) -> Silence:
    """A silence that muted 3 notifications in channel a and 1 in b, and then ended."""
    one = silence(clock, "project=sockshop", ends=clock.time() + 60, **given)
    await active.add(one)
    for event, channel in ((FAILED, "a"), (FAILED, "a"), (PASSED, "a"), (FAILED, "b")):
        await active.muted(one.id, event, "prod", channel)
    await clock.advance(60)
    return one


async def test_when_a_silence_ends_each_channel_it_muted_in_gets_one_summary(
    storage: Storage, clock: FakeClock
) -> None:
    active = replica(storage, clock)
    one = await ended_with_counts(storage, clock, active)
    await active.refresh()
    # not before every replica has seen the end
    assert await active.summarise(storage.store) == 0
    await clock.advance(SUMMARY_DELAY - 1)
    assert await active.summarise(storage.store) == 0
    await clock.advance(1)
    assert await active.summarise(storage.store) == 1
    (in_a,) = await storage.store.claim("a", 10, 30)
    (in_b,) = await storage.store.claim("b", 10, 30)
    assert (in_a.note, in_a.route, in_b.note) == (SUMMARY_NOTE, "", SUMMARY_NOTE)
    assert orjson.loads(in_a.body)["type"] == SUMMARY_TYPE and in_a.body == in_b.body
    message = summary_message(in_a.body, "a")
    assert (
        message.summary
        == "While muted by maintenance, alice: 3 notifications: 2 evaluations failed, 1 deployment passed"
    )
    assert message.title == "Silence ended: 3 notifications muted here"
    assert ("Silence", one.id) in [(fact.name, fact.value) for fact in message.facts]
    assert message.severity.value == "failure"
    assert (
        summary_message(in_b.body, "b").summary
        == "While muted by maintenance, alice: 1 notification: 1 evaluation failed"
    )
    # made once: the mark stays with the silence
    assert [record.summarised for record in await storage.silences.silences()] == [True]
    await active.refresh()
    assert await active.summarise(storage.store) == 0


async def test_two_replicas_that_see_the_end_at_once_queue_one_summary(storage: Storage, clock: FakeClock) -> None:
    first, second = replica(storage, clock), replica(storage, clock)
    await ended_with_counts(storage, clock, first)
    await clock.advance(SUMMARY_DELAY)
    await first.refresh()
    await second.refresh()
    assert await first.summarise(storage.store) + await second.summarise(storage.store) == 1
    assert len(await storage.store.claim("a", 10, 30)) == 1


async def test_a_summary_made_is_never_made_again_once_the_outbox_forgot_it(storage: Storage, clock: FakeClock) -> None:
    first = replica(storage, clock)
    await ended_with_counts(storage, clock, first)
    await clock.advance(SUMMARY_DELAY)
    await first.refresh()
    assert await first.summarise(storage.store) == 1
    sent = [*await storage.store.claim("a", 10, 30), *await storage.store.claim("b", 10, 30)]
    await storage.store.finish([Sent(item.claim, clock.time()) for item in sent])
    # past the dedup window the outbox forgets the summary event: only the silence's mark still says it was made
    await clock.advance(FORGET_INTERVAL + 60)
    await storage.store.accept([])
    later = replica(storage, clock)
    await later.refresh()
    assert await later.summarise(storage.store) == 0
    assert await storage.store.stats() == {}


async def test_a_silence_added_with_drop_or_that_muted_nothing_sends_no_summary(
    storage: Storage, clock: FakeClock
) -> None:
    active = replica(storage, clock)
    await ended_with_counts(storage, clock, active, drop=True)
    await active.add(silence(clock, "stage=quiet", ends=clock.time() + 1))
    await clock.advance(1 + SUMMARY_DELAY)
    await active.refresh()
    assert await active.summarise(storage.store) == 0
    assert await storage.store.stats() == {}
    assert [record.summarised for record in await storage.silences.silences()] == [True, True]


async def test_an_expired_silence_stops_muting_at_once_and_is_summarised_after_the_delay(
    storage: Storage, clock: FakeClock
) -> None:
    active = replica(storage, clock)
    one = silence(clock, "stage=production")
    await active.add(one)
    await active.muted(one.id, FAILED, "prod", "a")
    await clock.advance(REFRESH_INTERVAL)
    await active.expire(one.id)
    assert active.muting(FAILED, "a", "prod") is None
    await active.refresh()
    assert await active.summarise(storage.store) == 0
    await clock.advance(SUMMARY_DELAY)
    await active.refresh()
    assert await active.summarise(storage.store) == 1


class SlowRead:
    """The test double's silences, read at once but answered only when the test says so."""

    def __init__(self, inner: SilenceStore) -> None:
        self.inner = inner
        self.answer = asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def silences(self) -> list[SilenceRecord]:
        found = await self.inner.silences()
        await self.answer.wait()
        return found


async def test_a_refresh_that_read_the_store_before_a_silence_was_added_here_does_not_drop_it(
    storage: Storage, clock: FakeClock
) -> None:
    slow = SlowRead(storage.silences)
    active = ActiveSilences(slow, clock, Metrics())  # type: ignore[arg-type]
    reading = asyncio.create_task(active.refresh())
    await asyncio.sleep(0)
    added = silence(clock, "stage=production")
    await active.add(added)
    slow.answer.set()
    await reading
    assert active.muting(FAILED, "a", "r") == added
    await active.refresh()
    assert active.muting(FAILED, "a", "r") == added
