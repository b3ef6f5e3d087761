"""Stage 4 of the pipeline: deduplicate and store durably, in one store call; the sender may hear 'yes' after it.

Each target becomes the notification the store keeps: ordered by its run when it goes into the run's thread
(the only ordered notifications are threaded ones), and with noise control's decision attached when its route
has noise control (noise/memory.py: the store makes it in the same transaction). A target a silence mutes is
not stored (the event still is, so that a duplicate is known as one).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import orjson

from notifier.keptn.events import KeptnEvent
from notifier.metrics import Metrics
from notifier.noise.memory import decider
from notifier.pipeline.routing import Target
from notifier.store import Accepted, Incoming, Outgoing, Store

log = logging.getLogger("notifier.pipeline")


class Accept:
    def __init__(self, store: Store, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    async def __call__(self, wanted: Sequence[tuple[KeptnEvent, Sequence[Target]]]) -> list[bool]:
        """Store each event with its notifications, committed before it returns; False marks a duplicate.

        Raises StoreError when the store cannot be written: then nothing may be acknowledged.
        """
        outcomes = await self._store.accept(
            [
                Incoming(e.dedup_key, e.type, e.keptn_context, orjson.dumps(e.raw), outgoing(e, targets))
                for e, targets in wanted
            ]
        )
        fresh = [outcome.new for outcome in outcomes]
        accepted = sum(fresh)
        # A counter's inc(0) still takes its lock: only what changes.
        if accepted:
            self._metrics.events_accepted.inc(accepted)
        if accepted < len(fresh):
            self._metrics.events_deduplicated.inc(len(fresh) - accepted)
        logged = log.isEnabledFor(logging.INFO)  # spares the channel list and `extra` for every event
        for (event, targets), outcome in zip(wanted, outcomes, strict=True):
            if outcome.new:
                self._count_noise(event, targets, outcome)
            if logged:
                log.info(
                    "accepted %s for %s" if outcome.new else "duplicate %s dropped (already have it for %s)",
                    event.type,
                    ", ".join(target.channel for target in targets if not target.silence) or "no channel (muted)",
                    extra={"keptnContext": event.keptn_context, "eventId": event.id},
                )
        return fresh

    def _count_noise(self, event: KeptnEvent, targets: Sequence[Target], outcome: Accepted) -> None:
        """Suppressed and held notifications, by route and channel, as the store stored them."""
        stored_targets = [target for target in targets if not target.silence]
        for target, stored in zip(stored_targets, outcome.stored, strict=True):
            if target.noise is None or (stored is not None and not stored.note):
                continue
            counter = self._metrics.notifications_held if stored else self._metrics.notifications_suppressed
            counter.labels(target.route, target.channel).inc()
            log.info(
                "%s %s for channel %s (route %s)",
                "held" if stored else "suppressed as a repeat",
                event.type,
                target.channel,
                target.route,
                extra={"keptnContext": event.keptn_context, "eventId": event.id, "channel": target.channel},
            )


def outgoing(event: KeptnEvent, targets: Sequence[Target]) -> list[Outgoing]:
    """The notifications the store keeps for an event's targets: none for a target a silence mutes."""
    made = []
    for target in targets:
        if target.silence:
            continue
        order = event.keptn_context if target.threaded else ""
        one = Outgoing(target.channel, target.route, target.template, order=order, broadcast=target.broadcast)
        made.append(one if target.noise is None else decider(target.noise, event.dedup_key, one))
    return made
