"""Delivery: one worker per channel drains that channel's part of the outbox, paced and retried.

A slow, throttled or failing channel only ever delays itself. A worker claims notifications from the store for
a lease, so no other consumer sends them meanwhile; a send's outcome is committed right after the platform
answers, which ends the claim, so the only window for a duplicate is a crash between that answer and the commit.
A notification that a silence mutes by the time its turn comes (a backlog queued before the silence) is
finished as sent without being sent: no reply in its run's thread, no edit of the run message.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Protocol

from notifier.channels.base import Channel, SendResult
from notifier.clock import Clock, wait_for_event
from notifier.delivery.compose import Composer
from notifier.delivery.pacing import Pacer
from notifier.delivery.priority import IntakePriority
from notifier.delivery.results import Delivered, Park, RetryPolicy, next_step
from notifier.delivery.threads import RunThreads
from notifier.keptn.events import EventError, StoredEvent, load_event
from notifier.metrics import Metrics
from notifier.redact import Redactor
from notifier.silences.active import ActiveSilences
from notifier.silences.summary import SUMMARY_NOTE
from notifier.store import ChannelPace, Dead, Member, Pending, Release, Retry, Sent, Store, StoreError, Update

log = logging.getLogger("notifier.delivery")
FETCH_BATCH = 128
IDLE_POLL = 1.0
# How long a claim lasts. A notification whose claim has less than half of it left when its turn comes (it
# waited out long pauses in the buffer) is given back and claimed again: a send never outlives its claim.
LEASE = 300.0
MIN_LEASE_LEFT = LEASE / 2


class ChannelWorker:
    def __init__(
        self,
        name: str,
        channel: Channel,
        pacer: Pacer,
        store: Store,
        pace: ChannelPace,
        composer: Composer,
        policy: RetryPolicy,
        metrics: Metrics,
        redactor: Redactor,
        max_in_flight: int,
        priority: IntakePriority,
        clock: Clock,
        threads: RunThreads | None = None,
        silences: ActiveSilences | None = None,
    ) -> None:
        """`threads` for a channel that can thread: its threaded notifications go through it. `silences`: those
        that mute a notification when its turn comes."""
        self.name = name
        self._channel = channel
        self._pacer = pacer
        self._store = store
        self._pace = pace
        self._composer = composer
        self._policy = policy
        self._metrics = metrics
        # The children of this channel's label, looked up once: `labels()` costs a lock and a dict per call.
        self._sent = metrics.notifications_sent.labels(name)
        self._latency = metrics.delivery_latency.labels(name)
        self._redact = redactor
        self._max_in_flight = max_in_flight
        self._priority = priority
        self._clock = clock
        self._threads = threads
        self._silences = silences
        self._wake = asyncio.Event()
        self._refilling = asyncio.Lock()
        self._stopping = False
        self._buffer: deque[Pending] = deque()
        # Notifications taken from the buffer whose sends have not ended yet.
        self._delivering = 0
        self._senders: list[asyncio.Task[None]] = []
        self._failures = 0
        # Jitter for the backoff: its own generator, no shared module state.
        self._random = random.Random()

    def wake(self) -> None:
        self._wake.set()
        self._waiting(True)

    def _waiting(self, waiting: bool) -> None:
        """Tell the run threads whether notifications wait to be sent: their edits go after them."""
        if self._threads is not None:
            self._threads.notifications_waiting(waiting)

    async def run(self) -> None:
        # A fixed pool of sender loops, not a task per notification: no task churn under a burst.
        self._senders = [
            asyncio.create_task(self._send_loop(), name=f"send-{self.name}-{index}")
            for index in range(self._max_in_flight)
        ]
        if self._threads is not None:
            self._senders.append(asyncio.create_task(self._threads.run_edits(), name=f"edit-{self.name}"))
        await asyncio.gather(*self._senders, return_exceptions=True)

    async def _send_loop(self) -> None:
        while not self._stopping:
            item = await self._next()
            if item is None:
                continue
            self._delivering += 1
            try:
                await self._send(item)
            finally:
                self._delivering -= 1

    async def _send(self, item: Pending) -> None:
        """Send `item` in its turn; when the worker stops first, it goes back into the buffer."""
        # Before its turn too: a muted backlog takes none of the channel's rate.
        unmuted = await self._unmuted(item)
        if unmuted is None:
            return
        item = unmuted
        try:
            await self._pacer.acquire()
            await self._wait_for_shared_turn()
            # After the pacer: a paced channel waiting for its next token must not hold the busy-time slot.
            slot = await self._priority.turn(item.created)
        except asyncio.CancelledError:
            self._buffer.appendleft(item)  # not sent: `stop` gives it back
            raise
        started = self._clock.monotonic()
        try:
            if self._stopping:
                # Not sent: `stop` gives it back with the rest of the buffer.
                self._buffer.appendleft(item)
                return
            if item.claim.until - self._clock.time() < MIN_LEASE_LEFT:
                await self._give_back([item])
                return
            unmuted = await self._unmuted(item)
            if unmuted is not None:
                await self._deliver(unmuted)
        finally:
            if slot:
                self._priority.done(started)

    async def _next(self) -> Pending | None:
        if self._buffer:
            return self._buffer.popleft()
        async with self._refilling:
            if not self._buffer and not self._stopping:
                await self._refill()
        return self._buffer.popleft() if self._buffer else None

    async def _refill(self) -> None:
        # Cleared before reading, so a wake that comes while we read is not lost.
        self._wake.clear()
        try:
            items = await self._store.claim(self.name, FETCH_BATCH, LEASE)
        except StoreError as exc:
            log.error("cannot read the outbox of channel %s: %s", self.name, exc, extra={"channel": self.name})
            items = []
        if items:
            self._buffer.extend(items)
            self._waiting(True)
            return
        if not self._delivering and not self._wake.is_set():
            # Nothing due is left to send, and nothing came meanwhile: the edits' turn.
            self._waiting(False)
        try:
            next_due = await self._store.next_due(self.name)
        except StoreError:
            next_due = None
        wait = IDLE_POLL if next_due is None else min(IDLE_POLL, max(0.0, next_due - self._clock.time()))
        await wait_for_event(self._clock, self._wake, wait)

    async def _wait_for_shared_turn(self) -> None:
        """Keep to the channel's rate and pause together with every other consumer of the store (replicas): the
        platform's limits are per channel, not per sender. The pause is read last, just before the send, and a
        turn that a pause overtook is taken again after it, so that replicas do not all send when it ends."""
        while True:
            await self._wait_for_shared_slot()
            wait = await self._shared_pause() - self._clock.time()
            if wait <= 0:
                return
            self._pacer.pause(wait)
            await self._pacer.acquire()

    async def _wait_for_shared_slot(self) -> None:
        limit = self._pacer.limit
        if limit is None:
            return
        try:
            at = await self._pace.slot(self.name, 1 / limit.per_second, limit.burst)
        except StoreError as exc:
            log.debug("channel %s: shared rate unknown: %s", self.name, exc, extra={"channel": self.name})
            return
        if (wait := at - self._clock.time()) > 0:
            await self._clock.sleep(wait)

    async def _shared_pause(self, until: float = 0.0) -> float:
        try:
            return await self._pace.pause(self.name, until)
        except StoreError as exc:
            # The local pacer still paces this replica.
            log.debug("channel %s: shared pause unknown: %s", self.name, exc, extra={"channel": self.name})
            return 0.0

    async def _unmuted(self, item: Pending) -> Pending | None:
        """What of `item` no active silence mutes; what one mutes is counted, and a notification (or a group)
        muted whole is finished as sent. A silence's own summary is never muted."""
        silences = self._silences
        if silences is None or silences.idle or item.note == SUMMARY_NOTE:
            return item
        members = item.members or (Member(item.body, item.note),)
        kept: list[tuple[int, Member]] = []
        muted: list[str] = []
        for index, member in enumerate(members):
            try:
                event = load_event(member.body)
            except EventError:
                kept.append((index, member))  # the render path says what is wrong with it
                continue
            silence = silences.muting(event, self.name, item.route)
            if silence is None:
                kept.append((index, member))
            else:
                muted.append(silence.id)
                await silences.muted(silence.id, event, item.route, self.name)
        if not muted:
            return item
        if kept:
            # A digest of the rest; a member's own event names its render.
            first, member = kept[0]
            name = item.event if first == 0 else f"{item.event}/{first}"
            return replace(item, event=name, body=member.body, note=member.note, members=tuple(m for _, m in kept))
        try:
            detail = f"muted by silence {', '.join(dict.fromkeys(muted))}"
            await self._store.finish([Sent(item.claim, self._clock.time(), detail)])
        except StoreError as exc:
            log.error("could not record notification %s as muted: %s", item.id, exc, extra={"channel": self.name})
        return None

    async def _give_back(self, items: list[Pending]) -> None:
        """Unsent and claimed: claimable again at once, by this worker or another consumer."""
        if not items:
            return
        try:
            await self._store.finish([Release(item.claim) for item in items])
        except StoreError as exc:
            # Their claims run out on their own.
            log.warning("could not give back %d notification(s) of channel %s: %s", len(items), self.name, exc)

    async def _deliver(self, item: Pending) -> None:
        # A send cut short by shutdown may have gone out: its claim decides (a store opened alone after the
        # restart gives it back; a shared one once the lease runs out).
        update = await self._attempt(item)
        try:
            await self._store.finish([update])
        except StoreError as exc:
            log.error(
                "could not record the outcome of notification %s on channel %s: %s",
                item.id,
                self.name,
                exc,
                extra={"channel": self.name},
            )

    async def _attempt(self, item: Pending) -> Update:
        # Read at most once for this delivery, by whichever needs it first: the template, the mentions, the thread.
        stored = StoredEvent(item.body)
        try:
            if item.note == SUMMARY_NOTE:
                payload = self._composer.summary(item, self._channel.format)
            elif item.members:
                payload = self._composer.digest(item, self._channel.format)
            else:
                payload = self._composer.payload(item.event, stored, item.template, self._channel.format, item.route)
        except Exception as exc:  # even the fallback failed: nothing to retry
            return self._park(item, Park("render_failed", self._redact(str(exc)), self._failures))
        try:
            if item.order and self._threads is not None:
                result = await self._threads.send(item, payload, stored)
            else:
                result = await self._channel.send(payload)
        except StoreError as exc:  # a run's thread could not be read or saved: the store is away for now
            result = SendResult.retry("store_unavailable", self._redact(str(exc)))
        except Exception as exc:  # a channel must classify its failures; this is a bug, keep the message
            result = SendResult.retry("internal_error", self._redact(f"{type(exc).__name__}: {exc}"))
        now = self._clock.time()
        decision = next_step(
            result,
            now=now,
            created=item.created,
            failures=self._failures,
            paused_for=self._pacer.paused_for,
            policy=self._policy,
            jitter=self._random.uniform(0.5, 1.0),
        )
        self._failures = decision.failures
        # The platform is throttling or failing: the whole channel waits, not just this message, on every replica.
        self._pacer.pause(decision.pause)
        if decision.pause > 0:
            await self._shared_pause(now + decision.pause)
        if isinstance(decision, Delivered):
            self._sent.inc()
            self._latency.observe(max(0.0, now - item.created))
            if log.isEnabledFor(logging.INFO):  # spares building `extra` for every send
                log.info(
                    "sent notification %s to channel %s",
                    item.id,
                    self.name,
                    extra={"channel": self.name, "route": item.route, "keptnContext": item.keptn_context},
                )
            return Sent(item.claim, now, decision.detail)
        self._metrics.notifications_failed.labels(self.name, result.reason).inc()
        if isinstance(decision, Park):
            return self._park(item, decision)
        self._metrics.notifications_retried.labels(self.name).inc()
        log.warning(
            "channel %s: %s, retrying notification %s in %.1f s",
            self.name,
            decision.reason,
            item.id,
            decision.at - now,
            extra={
                "channel": self.name,
                "reason": decision.reason,
                "detail": decision.detail,
                "keptnContext": item.keptn_context,
            },
        )
        return Retry(item.claim, decision.at, decision.note)

    def _park(self, item: Pending, decision: Park) -> Dead:
        self._metrics.notifications_dead.labels(self.name, decision.reason).inc()
        log.error(
            "channel %s: notification %s parked as dead: %s %s",
            self.name,
            item.id,
            decision.reason,
            decision.detail,
            extra={
                "channel": self.name,
                "reason": decision.reason,
                "route": item.route,
                "keptnContext": item.keptn_context,
            },
        )
        return Dead(item.claim, self._clock.time(), decision.note)

    async def stop(self, grace: float) -> None:
        """Stop taking work; give sends in flight `grace` seconds; give back the rest to the store."""
        self._stopping = True
        self._wake.set()
        if self._threads is not None:
            self._threads.close()
        if self._senders:
            _, late = await asyncio.wait(self._senders, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        unsent = list(self._buffer)
        self._buffer.clear()
        await self._give_back(unsent)


class Worker(Protocol):
    """What the dispatcher runs for a channel: its ChannelWorker, or a RetiredChannel once a reload removed it."""

    name: str

    def wake(self) -> None: ...

    async def run(self) -> None: ...

    async def stop(self, grace: float) -> None: ...


class Dispatcher:
    """Starts, wakes, replaces and stops the channel workers."""

    def __init__(self, workers: Mapping[str, Worker]) -> None:
        self.workers = dict(workers)
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        for name in self.workers:
            self._launch(name)

    def _launch(self, name: str) -> None:
        self._tasks[name] = asyncio.create_task(self.workers[name].run(), name=f"worker-{name}")

    def wake(self, channels: Iterable[str]) -> None:
        for name in channels:
            worker = self.workers.get(name)
            if worker is not None:
                worker.wake()

    async def replace(self, name: str, worker: Worker | None, grace: float) -> None:
        """Stop the channel's worker, if it has one (its sends in flight get `grace` seconds, the rest goes back
        to the store), then start `worker` in its place: never two at once for one channel."""
        old, task = self.workers.pop(name, None), self._tasks.pop(name, None)
        if old is not None:
            await old.stop(grace)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if worker is not None:
            self.workers[name] = worker
            self._launch(name)

    async def stop(self, grace: float) -> None:
        await asyncio.gather(*(worker.stop(grace) for worker in self.workers.values()))
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
