"""The seam between where events come from (HTTP, NATS) and the pipeline they all go through.

A protocol module: it imports no implementation (a test checks in a fresh interpreter), so an intake depends on
the contract, not on the pipeline, the store or aiohttp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from notifier.keptn.events import KeptnEvent


@dataclass(frozen=True, slots=True)
class Summary:
    """What became of the events of one submit; the HTTP intake answers it as its 202 body."""

    accepted: int = 0
    ignored: int = 0
    duplicates: int = 0

    def as_json(self) -> dict[str, int]:
        return {"accepted": self.accepted, "ignored": self.ignored, "duplicates": self.duplicates}


class EventSink(Protocol):
    async def submit(self, events: Sequence[KeptnEvent], size: int | None = None) -> Summary:
        """Returns once the wanted events are stored. Raises EventError for events beyond the input limits
        (refuse them: they will never be accepted) and StoreError when storing fails (ask for a retry later).
        `size`: the length of the encoded form the events came in, when known."""
        ...


class IntakeSource(Protocol):
    """Delivers events to a sink; acknowledges its sender only after `submit` returns."""

    async def start(self, sink: EventSink) -> None: ...

    def readiness(self) -> str | None:
        """None while the intake can take events, else why not (the service's /ready says it)."""
        ...

    def pause(self) -> None:
        """Refuse new events (shutdown), so the sender keeps or redirects them."""
        ...

    async def stop(self) -> None: ...
