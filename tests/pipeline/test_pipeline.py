"""The stages in order, as every intake's events go through them: bound, subscribe, route, noise, silence, accept,
wake."""

import asyncio
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifier.clock import SystemClock
from notifier.config.load import load_config
from notifier.intake.protocol import Summary
from notifier.keptn.events import EventError, KeptnEvent, event_from_mapping
from notifier.metrics import Metrics
from notifier.pipeline.pipeline import Pipeline
from notifier.silences.active import ActiveSilences
from notifier.silences.silence import new_silence
from notifier.store import Retention, StoreError
from tests.memory_store import MemorySilences, MemoryStore

CONFIG = {
    "channels": {"prod": {"type": "console"}, "log": {"type": "console"}},
    "routes": [
        {"name": "prod", "match": {"types": ["sh.keptn.>"], "stages": ["production"]}, "channels": ["prod"]},
        {"name": "finished", "match": {"types": ["sh.keptn.event.*.finished"]}, "channels": ["log"]},
    ],
    "settings": {"pubsub_topic": "sh.keptn.event.*.*", "project_filter": "sockshop", "max_depth": 8},
}


def event(event_id: str, type_: str = "sh.keptn.event.evaluation.finished", **data: object) -> KeptnEvent:
    return event_from_mapping(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "lighthouse-service",
            "type": type_,
            "shkeptncontext": f"ctx-{event_id}",
            "data": {"project": "sockshop", "stage": "production", **data},
        }
    )


class Recorder:
    """Stands in for the dispatcher's wake-up and the intake priority: records what the pipeline told them."""

    def __init__(self) -> None:
        self.woken: list[set[str]] = []
        self.arrivals = 0
        self.answers = 0

    def wake(self, channels: Collection[str]) -> None:
        self.woken.append(set(channels))

    def arrived(self) -> None:
        self.arrivals += 1

    def answered(self) -> None:
        self.answers += 1


@pytest.fixture
async def store():
    store = MemoryStore(SystemClock(), Retention(window=3600, max_entries=100_000))
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def silence_store() -> MemorySilences:
    return MemorySilences(SystemClock())


@pytest.fixture
def silences(silence_store: MemorySilences, metrics: Metrics) -> ActiveSilences:
    return ActiveSilences(silence_store, SystemClock(), metrics)


@pytest.fixture
def pipeline(
    tmp_path: Path, store: MemoryStore, recorder: Recorder, metrics: Metrics, silences: ActiveSilences
) -> Pipeline:
    path = tmp_path / "notifier.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return Pipeline.build(load_config(path, env={}), store, silences, recorder.wake, metrics, recorder)


def count(metrics: Metrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(f"keptn_notifier_{name}_total")


async def test_a_mixed_batch_is_summed_up_stored_and_counted(
    pipeline: Pipeline, store: MemoryStore, metrics: Metrics
) -> None:
    await pipeline.submit([event("seen")])
    summary = await pipeline.submit(
        [
            event("new"),  # both routes: prod and log
            event("seen"),  # a duplicate
            event("started", "sh.keptn.event.deployment.started", stage="dev"),  # subscribed, no route
            event("other", project="podtato"),  # filtered out by PROJECT_FILTER
            event("sequence", "sh.keptn.event.dev.delivery.finished"),  # not subscribed (three tokens after event)
        ]
    )
    assert summary == Summary(accepted=1, ignored=3, duplicates=1)
    assert summary.as_json() == {"accepted": 1, "ignored": 3, "duplicates": 1}
    stats = await store.stats()
    assert (stats["prod"].pending, stats["log"].pending) == (2, 2)
    assert (count(metrics, "events_received"), count(metrics, "events_ignored")) == (6, 3)
    assert (count(metrics, "events_accepted"), count(metrics, "events_deduplicated")) == (2, 1)


async def test_only_channels_with_new_notifications_are_woken(pipeline: Pipeline, recorder: Recorder) -> None:
    await pipeline.submit([event("a", stage="dev")])
    await pipeline.submit([event("a", stage="dev"), event("b")])
    assert recorder.woken == [{"log"}, {"log", "prod"}]
    await pipeline.submit([event("b")])
    assert recorder.woken[-1] == set()  # all duplicates: nothing new to look at


async def test_every_submit_tells_the_intake_priority_even_when_nothing_is_wanted(
    pipeline: Pipeline, recorder: Recorder
) -> None:
    await pipeline.submit([event("ignored", project="podtato")])
    await pipeline.submit([])
    with pytest.raises(EventError):
        await pipeline.submit([event("deep", nested={"a": {"b": {"c": {"d": {"e": {"f": {"g": {}}}}}}}})])
    assert recorder.arrivals == 3
    assert recorder.woken == []  # nothing was stored, so nobody was woken


async def test_one_event_beyond_the_limits_stores_nothing_of_its_batch(
    pipeline: Pipeline, store: MemoryStore, metrics: Metrics
) -> None:
    too_deep = event("deep", nested={"a": {"b": {"c": {"d": {"e": {"f": {"g": {}}}}}}}})
    with pytest.raises(EventError, match="nested deeper than 8 levels"):
        await pipeline.submit([event("fine"), too_deep])
    assert await store.stats() == {}
    assert count(metrics, "events_received") == 0
    # The fine event was not remembered either: sent again on its own, it is new.
    assert await pipeline.submit([event("fine")]) == Summary(accepted=1)


async def test_long_text_is_cut_before_it_is_stored(pipeline: Pipeline, store: MemoryStore) -> None:
    await pipeline.submit([event("long", message="m" * 20_000)], size=20_500)
    [due] = await store.claim("prod", 1, lease=60)
    assert b"m" * 8_192 + "…[truncated]".encode() in due.body and b"m" * 8_193 not in due.body


async def test_ignored_events_are_logged_at_debug_with_the_reason(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, "notifier.pipeline"):
        await pipeline.submit([event("x", project="podtato"), event("y", "sh.keptn.event.test.started", stage="dev")])
    ignored = [record.getMessage() for record in caplog.records if record.getMessage().startswith("ignored ")]
    assert ignored == [
        "ignored sh.keptn.event.evaluation.finished: project 'podtato' is filtered out by PROJECT_FILTER",
        "ignored sh.keptn.event.test.started: no route matches",
    ]


async def test_a_store_that_cannot_write_fails_the_submit(pipeline: Pipeline, store: MemoryStore) -> None:
    await store.close()
    with pytest.raises(StoreError):
        await pipeline.submit([event("lost")])


async def test_every_submit_is_answered_to_the_intake_priority_even_when_it_raises(
    pipeline: Pipeline, recorder: Recorder
) -> None:
    await pipeline.submit([event("a", stage="dev")])
    with pytest.raises(EventError):
        await pipeline.submit([event("deep", nested={"a": {"b": {"c": {"d": {"e": {"f": {"g": {}}}}}}}})])
    # Requests in flight go back to zero: a refused batch must not leave the intake looking contended.
    assert recorder.arrivals == recorder.answers == 2


async def test_a_reload_routes_the_next_submit_and_one_in_flight_finishes_on_the_routes_it_started_with(
    tmp_path: Path, pipeline: Pipeline, store: MemoryStore, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = asyncio.Event()
    accept = store.accept

    async def slow_accept(items: Any) -> Any:
        await gate.wait()
        return await accept(items)

    monkeypatch.setattr(store, "accept", slow_accept)
    in_flight = asyncio.create_task(pipeline.submit([event("before")]))
    await asyncio.sleep(0)
    path = tmp_path / "reloaded.yaml"
    reloaded = {**CONFIG, "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["log"]}]}
    path.write_text(yaml.safe_dump(reloaded))
    pipeline.reconfigure(load_config(path, env={}))
    gate.set()
    await in_flight
    await pipeline.submit([event("after")])
    assert recorder.woken == [{"log", "prod"}, {"log"}]
    stats = await store.stats()
    assert (stats["prod"].pending, stats["log"].pending) == (1, 2)


async def test_a_destination_a_silence_mutes_is_not_stored_and_is_counted_once(
    pipeline: Pipeline,
    store: MemoryStore,
    metrics: Metrics,
    recorder: Recorder,
    silences: ActiveSilences,
    silence_store: MemorySilences,
) -> None:
    now = SystemClock().time()
    prod = new_silence(["route=prod"], ends=now + 60, created_by="a", comment="c", now=now, max_duration=3600)
    await silences.add(prod)
    assert await pipeline.submit([event("a"), event("a")]) == Summary(accepted=1, duplicates=1)
    assert {name: stats.pending for name, stats in (await store.stats()).items()} == {"log": 1}
    assert recorder.woken[-1] == {"log"}
    # muted on the way in, and counted for the event once, not for its duplicate
    assert await pipeline.submit([event("a")]) == Summary(duplicates=1)
    silenced = metrics.registry.get_sample_value(
        "keptn_notifier_notifications_silenced_total", {"route": "prod", "channel": "prod"}
    )
    assert silenced == 1
    (muted,) = await silence_store.muted(prod.id)
    assert (muted.channel, muted.count) == ("prod", 1)
    # every destination muted: the event is still remembered, so that its duplicate is one
    everything = new_silence(
        [], ends=now + 60, created_by="a", comment="c", now=now, max_duration=3600, everything=True
    )
    await silences.add(everything)
    assert await pipeline.submit([event("b"), event("b")]) == Summary(accepted=1, duplicates=1)
    assert {name: stats.pending for name, stats in (await store.stats()).items()} == {"log": 1}
