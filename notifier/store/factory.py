"""The one place that picks and builds the store from the settings: the service and the CLI both use it."""

from __future__ import annotations

from notifier.clock import Clock
from notifier.config import Settings
from notifier.store.protocol import Retention, Store
from notifier.store.sqlite import SQLiteStore


def make_store(settings: Settings, clock: Clock, *, must_exist: bool = False) -> Store:
    """Not opened yet. `must_exist` for tools that read a service's outbox: a missing one is an error."""
    retention = Retention(settings.dedup_window, settings.dedup_max_entries, settings.thread_max_age)
    return SQLiteStore(settings.state_dir, clock, retention, must_exist=must_exist)
