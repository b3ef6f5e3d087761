"""Stage 4 of the pipeline: deduplicate and store durably, in one store call; the sender may hear 'yes' after it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import orjson

from notifier.keptn.events import KeptnEvent
from notifier.metrics import Metrics
from notifier.pipeline.routing import Target
from notifier.store import Incoming, Store

log = logging.getLogger("notifier.pipeline")


class Accept:
    def __init__(self, store: Store, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    async def __call__(self, wanted: Sequence[tuple[KeptnEvent, Sequence[Target]]]) -> list[bool]:
        """Store each event with its notifications, committed before it returns; False marks a duplicate.

        Raises StoreError when the store cannot be written: then nothing may be acknowledged.
        """
        fresh = await self._store.accept(
            [Incoming(e.dedup_key, e.type, e.keptn_context, orjson.dumps(e.raw), targets) for e, targets in wanted]
        )
        accepted = sum(fresh)
        # A counter's inc(0) still takes its lock: only what changes.
        if accepted:
            self._metrics.events_accepted.inc(accepted)
        if accepted < len(fresh):
            self._metrics.events_deduplicated.inc(len(fresh) - accepted)
        logged = log.isEnabledFor(logging.INFO)  # spares the channel list and `extra` for every event
        for (event, targets), new in zip(wanted, fresh, strict=True):
            self._count_noise(event, targets)
            if logged:
                log.info(
                    "accepted %s for %s" if new else "duplicate %s dropped (already have it for %s)",
                    event.type,
                    ", ".join(target.channel for target in targets),
                    extra={"keptnContext": event.keptn_context, "eventId": event.id},
                )
        return fresh

    def _count_noise(self, event: KeptnEvent, targets: Sequence[Target]) -> None:
        """Suppressed and held notifications, by route and channel, as the store applied noise control."""
        for target in targets:
            applied = None if target.noise is None else target.noise.applied
            if applied is None or (applied.keep and not applied.held):
                continue
            counter = self._metrics.notifications_held if applied.keep else self._metrics.notifications_suppressed
            counter.labels(target.route, target.channel).inc()
            log.info(
                "%s %s for channel %s (route %s)",
                "held" if applied.keep else "suppressed as a repeat",
                event.type,
                target.channel,
                target.route,
                extra={"keptnContext": event.keptn_context, "eventId": event.id, "channel": target.channel},
            )
