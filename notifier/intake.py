"""The seam between where events come from (HTTP now, NATS later) and what the service does with them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from notifier.events import KeptnEvent
from notifier.pipeline import Summary


class EventSink(Protocol):
    async def submit(self, events: Sequence[KeptnEvent]) -> Summary: ...


class IntakeSource(Protocol):
    """Delivers events to a sink; acknowledges its sender only after `submit` returns."""

    async def start(self, sink: EventSink) -> None: ...

    def pause(self) -> None:
        """Refuse new events (shutdown), so the sender keeps or redirects them."""
        ...

    async def stop(self) -> None: ...
