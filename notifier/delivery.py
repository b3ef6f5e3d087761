"""Delivery: one worker per channel drains that channel's part of the outbox, paced and retried.

A slow, throttled or failing channel only ever delays itself. A send's outcome is committed right after the
platform answers, so the only window for a duplicate is a crash between that answer and the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from notifier.channels.base import Channel, Outcome, SendResult
from notifier.compose import Composer
from notifier.metrics import Metrics
from notifier.pacing import Pacer
from notifier.priority import IntakePriority
from notifier.redact import Redactor
from notifier.store import Dead, Pending, Retry, Sent, Store, StoreError, Update

log = logging.getLogger("notifier.delivery")
FETCH_BATCH = 128
IDLE_POLL = 1.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial: float
    maximum: float
    max_age: float

    def backoff(self, failures: int) -> float:
        """Exponential, capped, with jitter so that many senders do not retry in step."""
        base = min(self.maximum, self.initial * 2 ** max(0, failures - 1))
        return float(base * random.uniform(0.5, 1.0))


class ChannelWorker:
    def __init__(
        self,
        name: str,
        channel: Channel,
        pacer: Pacer,
        store: Store,
        composer: Composer,
        policy: RetryPolicy,
        metrics: Metrics,
        redactor: Redactor,
        max_in_flight: int,
        priority: IntakePriority,
    ) -> None:
        self.name = name
        self._channel = channel
        self._pacer = pacer
        self._store = store
        self._composer = composer
        self._policy = policy
        self._metrics = metrics
        self._redact = redactor
        self._max_in_flight = max_in_flight
        self._priority = priority
        self._wake = asyncio.Event()
        self._refilling = asyncio.Lock()
        self._stopping = False
        self._buffer: deque[Pending] = deque()
        self._claimed: set[int] = set()
        self._senders: list[asyncio.Task[None]] = []
        self._failures = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        # A fixed pool of sender loops, not a task per notification: no task churn under a burst.
        self._senders = [
            asyncio.create_task(self._send_loop(), name=f"send-{self.name}-{index}")
            for index in range(self._max_in_flight)
        ]
        await asyncio.gather(*self._senders, return_exceptions=True)

    async def _send_loop(self) -> None:
        while not self._stopping:
            item = await self._next()
            if item is None:
                continue
            await self._pacer.acquire()
            # After the pacer: a paced channel waiting for its next token must not hold the busy-time slot.
            slot = await self._priority.turn()
            started = time.monotonic()
            try:
                if self._stopping:
                    # Not sent: the row stays pending and goes out after the restart.
                    self._claimed.discard(item.id)
                    return
                await self._deliver(item)
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
            items = await self._store.due(self.name, time.time(), FETCH_BATCH, self._claimed)
        except StoreError as exc:
            log.error("cannot read the outbox of channel %s: %s", self.name, exc, extra={"channel": self.name})
            items = []
        if items:
            self._buffer.extend(items)
            self._claimed.update(item.id for item in items)
            return
        try:
            next_due = await self._store.next_due(self.name)
        except StoreError:
            next_due = None
        wait = IDLE_POLL if next_due is None else min(IDLE_POLL, max(0.0, next_due - time.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), wait)

    async def _deliver(self, item: Pending) -> None:
        try:
            update = await self._attempt(item)
        except asyncio.CancelledError:
            # Shutdown cut the send short: the row stays pending and goes out after the restart.
            self._claimed.discard(item.id)
            raise
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
        finally:
            self._claimed.discard(item.id)

    async def _attempt(self, item: Pending) -> Update:
        try:
            payload = self._composer.payload(item.event_seq, item.body, item.template, self._channel.format, item.route)
        except Exception as exc:  # even the fallback failed: nothing to retry
            reason = self._redact(f"render_failed: {exc}")
            return self._dead(item, "render_failed", reason)
        try:
            result = await self._channel.send(payload)
        except Exception as exc:  # a channel must classify its failures; this is a bug, keep the message
            result = SendResult.retry("internal_error", self._redact(f"{type(exc).__name__}: {exc}"))
        now = time.time()
        if result.outcome is Outcome.SENT:
            self._failures = 0
            self._metrics.notifications_sent.labels(self.name).inc()
            self._metrics.delivery_latency.labels(self.name).observe(max(0.0, now - item.created))
            log.info(
                "sent notification %s to channel %s",
                item.id,
                self.name,
                extra={"channel": self.name, "route": item.route, "keptnContext": item.keptn_context},
            )
            return Sent(item.id, now, result.detail[:200])
        self._metrics.notifications_failed.labels(self.name, result.reason).inc()
        if result.outcome is Outcome.DEAD:
            return self._dead(item, result.reason, result.detail)
        if result.retry_after is not None:
            delay = result.retry_after
        elif self._pacer.paused_for > 0:
            # Another send already failed and paused the channel: sends that were in flight with it are the
            # same failure, not a longer outage, so they do not escalate the backoff.
            delay = self._pacer.paused_for
        else:
            self._failures += 1
            delay = self._policy.backoff(self._failures)
        # The platform is throttling or failing: the whole channel waits, not just this message.
        self._pacer.pause(delay)
        if now + delay - item.created > self._policy.max_age:
            return self._dead(item, "expired", f"still failing after the maximum age: {result.reason} {result.detail}")
        self._metrics.notifications_retried.labels(self.name).inc()
        log.warning(
            "channel %s: %s, retrying notification %s in %.1f s",
            self.name,
            result.reason,
            item.id,
            delay,
            extra={
                "channel": self.name,
                "reason": result.reason,
                "detail": result.detail,
                "keptnContext": item.keptn_context,
            },
        )
        return Retry(item.id, now + delay, f"{result.reason}: {result.detail}"[:500])

    def _dead(self, item: Pending, reason: str, detail: str) -> Dead:
        self._metrics.notifications_dead.labels(self.name, reason).inc()
        log.error(
            "channel %s: notification %s parked as dead: %s %s",
            self.name,
            item.id,
            reason,
            detail,
            extra={"channel": self.name, "reason": reason, "route": item.route, "keptnContext": item.keptn_context},
        )
        return Dead(item.id, time.time(), f"{reason}: {detail}"[:500] if detail else reason)

    async def stop(self, grace: float) -> None:
        """Stop taking work; give sends in flight `grace` seconds; the rest stays in the store."""
        self._stopping = True
        self._wake.set()
        if self._senders:
            _, late = await asyncio.wait(self._senders, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)


class Dispatcher:
    """Starts, wakes and stops the channel workers."""

    def __init__(self, workers: Mapping[str, ChannelWorker]) -> None:
        self.workers = dict(workers)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for name, worker in self.workers.items():
            self._tasks.append(asyncio.create_task(worker.run(), name=f"worker-{name}"))

    def wake(self, channels: Iterable[str]) -> None:
        for name in channels:
            worker = self.workers.get(name)
            if worker is not None:
                worker.wake()

    async def stop(self, grace: float) -> None:
        await asyncio.gather(*(worker.stop(grace) for worker in self.workers.values()))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
