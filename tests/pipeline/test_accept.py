"""The pipeline's fourth stage: one store call that deduplicates and commits, with its counts and log lines."""

import logging
from pathlib import Path

import pytest

from notifier.clock import SystemClock
from notifier.keptn.events import event_from_mapping
from notifier.metrics import Metrics
from notifier.pipeline.accept import Accept
from notifier.pipeline.routing import Target
from notifier.store import Retention, StoreError
from notifier.store.sqlite import SQLiteStore

RETENTION = Retention(window=3600, max_entries=100_000)
TARGETS = (Target("hook", "all", None), Target("teams", "all", "custom"))


def event(event_id: str):
    return event_from_mapping(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "lighthouse-service",
            "type": "sh.keptn.event.evaluation.finished",
            "shkeptncontext": f"ctx-{event_id}",
            "data": {"project": "sockshop"},
        }
    )


@pytest.fixture
async def store(tmp_path: Path):
    store = SQLiteStore(tmp_path, SystemClock(), RETENTION)
    await store.open()
    yield store
    await store.close()


def count(metrics: Metrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(f"keptn_notifier_{name}_total")


async def test_accepted_events_are_committed_with_one_notification_per_target(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path, SystemClock(), RETENTION)
    await first.open()
    assert await Accept(first, Metrics())([(event("a"), TARGETS), (event("b"), TARGETS[:1])]) == [True, True]
    await first.close()
    # What was accepted is on disk: a new store on the same directory finds it.
    reopened = SQLiteStore(tmp_path, SystemClock(), RETENTION)
    await reopened.open()
    try:
        stats = await reopened.stats()
        assert (stats["hook"].pending, stats["teams"].pending) == (2, 1)
        [due] = await reopened.claim("teams", 10, lease=60)
        assert due.template == "custom" and b'"id":"a"' in due.body
    finally:
        await reopened.close()


async def test_a_duplicate_is_false_counted_and_logged(store: SQLiteStore, caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    accept = Accept(store, metrics)
    assert await accept([(event("a"), TARGETS)]) == [True]
    with caplog.at_level(logging.INFO, "notifier.pipeline"):
        assert await accept([(event("a"), TARGETS), (event("c"), TARGETS)]) == [False, True]
    assert count(metrics, "events_accepted") == 2 and count(metrics, "events_deduplicated") == 1
    messages = [(record.getMessage(), getattr(record, "keptnContext", None)) for record in caplog.records]
    assert messages == [
        ("duplicate sh.keptn.event.evaluation.finished dropped (already have it for hook, teams)", "ctx-a"),
        ("accepted sh.keptn.event.evaluation.finished for hook, teams", "ctx-c"),
    ]
    assert (await store.stats())["hook"].pending == 2


async def test_a_store_that_cannot_write_raises_and_counts_nothing(store: SQLiteStore) -> None:
    metrics = Metrics()
    await store.close()
    with pytest.raises(StoreError):
        await Accept(store, metrics)([(event("a"), TARGETS)])
    assert count(metrics, "events_accepted") == 0
