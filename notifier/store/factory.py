"""The one place that picks and builds the store from the settings: the service and the CLI both use it."""

from __future__ import annotations

from notifier.clock import Clock
from notifier.config.load import Settings
from notifier.delivery.worker import LEASE
from notifier.store.protocol import Retention, Store


def make_store(settings: Settings, clock: Clock, *, must_exist: bool = False) -> Store:
    """Not opened yet. `must_exist` for tools that read a service's outbox: a missing one is an error."""
    retention = Retention(settings.dedup_window, settings.dedup_max_entries, settings.thread_max_age)
    if settings.store == "nats":
        # Imported here: only a service that uses NATS loads the NATS client.
        from notifier.store.jetstream.store import SERVICE_ACK_WAIT, JetStreamStore

        # The workers' lease; the short ack_wait, kept alive while held, is how soon a dead replica's claims come back.
        return JetStreamStore(
            settings.nats_url,
            settings.nats_prefix,
            clock,
            retention,
            lease=LEASE,
            create=not must_exist,
            ack_wait=SERVICE_ACK_WAIT,
            max_bytes=settings.nats_max_bytes,
        )
    from notifier.store.sqlite import SQLiteStore

    return SQLiteStore(settings.state_dir, clock, retention, must_exist=must_exist)
