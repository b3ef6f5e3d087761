"""The one place that builds a backend, from plain values: the app wires the settings in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from notifier.clock import Clock
from notifier.store.protocol import Retention, Storage


def make_storage(
    kind: Literal["sqlite", "nats"],
    clock: Clock,
    retention: Retention,
    *,
    thread_max_age: float,
    lease: float,
    state_dir: Path,
    nats_url: str,
    nats_prefix: str,
    nats_max_bytes: int,
    must_exist: bool = False,
) -> Storage:
    """Not opened yet. `lease`: how long the workers' claims last. `must_exist` for tools that read a service's
    outbox: a missing one is an error, and nothing is created."""
    if kind == "nats":
        # Imported here: only a service that uses NATS loads the NATS client.
        from notifier.store.jetstream.store import SERVICE_ACK_WAIT, JetStreamStore, jetstream_storage

        # The short ack_wait, kept alive while held, is how soon a dead replica's claims come back.
        store = JetStreamStore(
            nats_url,
            nats_prefix,
            clock,
            retention,
            thread_max_age,
            lease=lease,
            create=not must_exist,
            ack_wait=SERVICE_ACK_WAIT,
            max_bytes=nats_max_bytes,
        )
        return jetstream_storage(store, clock)
    from notifier.store.sqlite import sqlite_storage

    return sqlite_storage(state_dir, clock, retention, thread_max_age, must_exist=must_exist)
