"""The silences a replica applies: read from the store at most REFRESH_INTERVAL ago, checked in memory.

Muting is decided where a notification is accepted and again right before it is sent, many times a second, so it
reads no store: `muting` looks at the silences the last refresh read. A silence added or expired through this
replica applies here at once; through another replica or the CLI, at this one's next refresh. The same loop makes
the summary of each silence that ended (`summary.py`), once every replica has seen the end.
"""

from __future__ import annotations

import asyncio
import logging

from notifier.clock import Clock, wait_for_event
from notifier.keptn.events import KeptnEvent
from notifier.metrics import Metrics
from notifier.silences.silence import Silence, SilenceError, muting
from notifier.silences.summary import kind_of, summary_event
from notifier.store.protocol import SilenceRecord, SilenceStore, Store, StoreError

log = logging.getLogger("notifier.silences")
# How often the silences are read again: a silence added anywhere applies everywhere within this (and a read).
REFRESH_INTERVAL = 2.0
# How long after a silence's end its summary is made: an expire reaches the other replicas at their next refresh,
# and until then they may still mute (and count) under it.
SUMMARY_DELAY = 2 * REFRESH_INTERVAL + 1.0


class ActiveSilences:
    def __init__(self, store: SilenceStore, clock: Clock, metrics: Metrics) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics
        # Those that have not ended yet (active or pending), in the order listed; and those that ended without
        # their summary made.
        self._live: tuple[Silence, ...] = ()
        self._ended: tuple[SilenceRecord, ...] = ()
        # Silences this release cannot read (a matcher of a later one), said once each.
        self._unreadable: set[str] = set()
        # Adds and expires through this replica: a refresh that read the store before one of them keeps what it had.
        self._changes = 0

    @property
    def idle(self) -> bool:
        """Nothing can be muted now or later without a refresh: no event needs to be looked at."""
        return not self._live

    def muting(self, event: KeptnEvent, channel: str, route: str) -> Silence | None:
        """The active silence that mutes the event's notification to `channel` by `route`, if any."""
        if not self._live:
            return None
        return muting(self._live, event, channel, route, self._clock.time())

    async def muted(self, silence: str, event: KeptnEvent, route: str, channel: str) -> None:
        """Count a notification the silence muted: in the metric, and in the silence's counts for its summary."""
        self._metrics.notifications_silenced.labels(route, channel).inc()
        log.info(
            "muted %s for channel %s (route %s) by silence %s",
            event.type,
            channel,
            route,
            silence,
            extra={"keptnContext": event.keptn_context, "eventId": event.id, "channel": channel},
        )
        try:
            await self._store.count(silence, channel, kind_of(event))
        except StoreError as exc:
            log.error("could not count a notification silence %s muted: %s", silence, exc)

    async def add(self, silence: Silence) -> None:
        await self._store.put(silence.record())
        self._live = (*(s for s in self._live if s.id != silence.id), silence)
        self._changes += 1

    async def expire(self, silence: str) -> SilenceRecord | None:
        """End the silence now; None when the store knows no such silence."""
        ended = await self._store.expire(silence, self._clock.time())
        if ended is not None:
            self._live = tuple(s for s in self._live if s.id != silence)
            self._changes += 1
        return ended

    async def refresh(self) -> None:
        """Read the silences again (raises StoreError, keeping the last ones read)."""
        changes = self._changes
        records = await self._store.silences()
        if changes != self._changes:
            return  # read before a change made here: the next refresh reads it
        now = self._clock.time()
        live = []
        for record in records:
            if record.ends <= now:
                continue
            try:
                live.append(Silence.of(record))
            except SilenceError as exc:
                if record.id not in self._unreadable:
                    self._unreadable.add(record.id)
                    log.error("silence %s is not applied: %s", record.id, exc)
        self._live = tuple(live)
        self._ended = tuple(record for record in records if record.ends <= now and not record.summarised)

    async def summarise(self, outbox: Store) -> int:
        """Put the summary of each silence that ended a while ago into the outbox, once; how many were put."""
        made = 0
        now = self._clock.time()
        for record in self._ended:
            if now < record.ends + SUMMARY_DELAY:
                continue
            counts = [] if record.drop else await self._store.muted(record.id)
            if counts:
                (outcome,) = await outbox.accept([summary_event(record, counts, now)])
                made += outcome.new
                log.info(
                    "silence %s ended: %s its summary for %s",
                    record.id,
                    "queued" if outcome.new else "another replica queued",
                    ", ".join(sorted({count.channel for count in counts})),
                )
            await self._store.summarised(record.id)
        self._ended = tuple(record for record in self._ended if now < record.ends + SUMMARY_DELAY)
        return made

    async def run(self, outbox: Store, stop: asyncio.Event) -> None:
        """Refresh and summarise every REFRESH_INTERVAL until `stop` is set."""
        while not stop.is_set():
            try:
                await self.refresh()
                await self.summarise(outbox)
            except StoreError as exc:
                log.warning("cannot read the silences (the last ones read still apply): %s", exc)
            await wait_for_event(self._clock, stop, REFRESH_INTERVAL)
