"""What happens to an event between intake and the outbox: subscription, routes, dedup, durable storage."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from notifier.delivery import Dispatcher
from notifier.events import KeptnEvent
from notifier.metrics import Metrics
from notifier.routing import Router, Target
from notifier.store import Incoming, Store

log = logging.getLogger("notifier.pipeline")


@dataclass(frozen=True, slots=True)
class Summary:
    accepted: int = 0
    ignored: int = 0
    duplicates: int = 0

    def as_json(self) -> dict[str, int]:
        return {"accepted": self.accepted, "ignored": self.ignored, "duplicates": self.duplicates}


class Pipeline:
    def __init__(self, router: Router, store: Store, dispatcher: Dispatcher, metrics: Metrics) -> None:
        self._router = router
        self._store = store
        self._dispatcher = dispatcher
        self._metrics = metrics

    async def submit(self, events: Sequence[KeptnEvent]) -> Summary:
        """Returns once every wanted event is committed to the store: only then may the intake say 202."""
        self._metrics.events_received.inc(len(events))
        wanted: list[tuple[KeptnEvent, bytes, Sequence[Target]]] = []
        ignored = 0
        for event in events:
            targets = self._router.targets(event)
            if targets:
                wanted.append((event, orjson.dumps(event.raw), targets))
            else:
                ignored += 1
                if log.isEnabledFor(logging.DEBUG):
                    rejection, _ = self._router.explain(event)
                    log.debug(
                        "ignored %s: %s",
                        event.type,
                        rejection or "no route matches",
                        extra={"keptnContext": event.keptn_context, "eventId": event.id},
                    )
        self._metrics.events_ignored.inc(ignored)
        if not wanted:
            return Summary(ignored=ignored)
        fresh = await self._store.accept(
            [Incoming(e.dedup_key, e.type, e.keptn_context, body, targets) for e, body, targets in wanted]
        )
        accepted = sum(fresh)
        duplicates = len(fresh) - accepted
        self._metrics.events_accepted.inc(accepted)
        self._metrics.events_deduplicated.inc(duplicates)
        channels = {
            target.channel for (_, _, targets), new in zip(wanted, fresh, strict=True) if new for target in targets
        }
        self._dispatcher.wake(channels)
        for (event, _, event_targets), new in zip(wanted, fresh, strict=True):
            log.info(
                "accepted %s for %s" if new else "duplicate %s dropped (already have it for %s)",
                event.type,
                ", ".join(target.channel for target in event_targets),
                extra={"keptnContext": event.keptn_context, "eventId": event.id},
            )
        return Summary(accepted=accepted, ignored=ignored, duplicates=duplicates)
