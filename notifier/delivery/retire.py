"""A channel that a reload removed: what it still has queued becomes dead letters, never sent and never dropped.

It stands in the channel's place in the dispatcher once the channel's worker has stopped, claims the channel's
notifications as a worker would and parks each as dead with `REMOVED`, so `dead list` shows them and `dead retry`
brings them back once the channel is configured again (until then they come straight back here). What waits
for a later time (a retry's backoff, a digest window, another consumer's claim) is parked when its time comes,
since only then may it be claimed; it stays in the outbox meanwhile.
"""

from __future__ import annotations

import asyncio
import logging

from notifier.clock import Clock, wait_for_event
from notifier.metrics import Metrics
from notifier.store import Dead, Store, StoreError

log = logging.getLogger("notifier.delivery")
# The dead letters' reason, as `dead list` shows it.
REMOVED = "channel no longer configured"
# The notifications_dead metric's reason label.
REMOVED_LABEL = "channel_removed"
CLAIM_BATCH = 128
# Nothing new comes for a removed channel (no route names it): what is left is what waits for a later time.
POLL = 5.0
# Longer than any claim takes; the store gives a claim it could not finish back when its lease ends.
LEASE = 60.0


class RetiredChannel:
    """The dispatcher's worker for a channel no longer configured."""

    def __init__(self, name: str, store: Store, metrics: Metrics, clock: Clock) -> None:
        self.name = name
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._done = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while not self._stopping:
                self._wake.clear()
                if await self._park_due():
                    continue
                await wait_for_event(self._clock, self._wake, await self._wait())
        finally:
            self._done.set()

    async def _park_due(self) -> bool:
        """Park what may be claimed now; True when there was some (more may follow it: an order key's next)."""
        try:
            items = await self._store.claim(self.name, CLAIM_BATCH, LEASE)
            if not items:
                return False
            await self._store.finish([Dead(item.claim, self._clock.time(), REMOVED) for item in items])
        except StoreError as exc:
            log.error("cannot park the notifications of removed channel %s: %s", self.name, exc)
            return False
        count = sum(max(1, len(item.members)) for item in items)
        self._metrics.notifications_dead.labels(self.name, REMOVED_LABEL).inc(count)
        log.warning(
            "channel %s is no longer configured: %d queued notification(s) parked as dead letters "
            "('keptn-notifier dead retry' sends them once the channel is configured again)",
            self.name,
            count,
            extra={"channel": self.name, "reason": REMOVED_LABEL},
        )
        return True

    async def _wait(self) -> float:
        try:
            next_due = await self._store.next_due(self.name)
        except StoreError:
            next_due = None
        return POLL if next_due is None else min(POLL, max(0.0, next_due - self._clock.time()))

    async def stop(self, grace: float) -> None:
        """Ends after the claim or park in hand, so that nothing it claimed waits for a lease to end."""
        self._stopping = True
        self._wake.set()
        if grace > 0:
            await wait_for_event(self._clock, self._done, grace)
