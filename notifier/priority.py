"""Intake first: while events are arriving, delivery gets a bounded share of the one event loop.

Accepting cannot wait (the distributor gives up after 5 s and never retries); delivery can, because every
accepted event is already on disk. So while requests keep coming, the whole service sends one notification at a
time, and after each send pauses long enough that sends take at most `share` of the wall time. When the intake
has been quiet for `quiet_after`, every sender runs freely again. Delivery never stops, it only slows.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from notifier.clock import Clock, wait_for_event

# Sends may take at most this part of the time while events are arriving.
DELIVERY_SHARE = 0.2
# The longest pause after one send, so that one slow platform cannot hold every channel for long.
MAX_PAUSE = 0.5


class IntakePriority:
    def __init__(
        self, clock: Clock, quiet_after: float = 0.02, share: float = DELIVERY_SHARE, max_pause: float = MAX_PAUSE
    ) -> None:
        self._clock = clock
        self._quiet_after = quiet_after
        self._pause_factor = (1.0 - share) / share
        self._max_pause = max_pause
        self._last_request = -math.inf
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._watch: asyncio.Task[None] | None = None
        # One send at a time while busy: whether it is taken, when it may next be taken, who waits for it.
        self._slot_taken = False
        self._next_slot = 0.0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def busy(self) -> bool:
        return not self._quiet.is_set()

    def arrived(self) -> None:
        """Called for every request: cheap, a clock read and, at the start of a busy spell, one watcher."""
        self._last_request = self._clock.monotonic()
        if self._quiet.is_set():
            self._quiet.clear()
            self._watch = asyncio.create_task(self._watch_quiet(), name="intake-quiet")

    async def _watch_quiet(self) -> None:
        while (left := self._last_request + self._quiet_after - self._clock.monotonic()) > 0:
            await self._clock.sleep(left)
        self._watch = None
        self.close()

    def close(self) -> None:
        """Quiet from now on (until the next request): every waiting sender may go."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        self._quiet.set()
        while self._waiting:
            self._wake_one()

    async def turn(self) -> bool:
        """Wait until a send may start. True means it holds the busy-time slot: call `done` after the send."""
        while self.busy and self._slot_taken:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # Woken and cancelled at once: pass the wake-up on, or the slot would sit unused.
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()
                raise
        if not self.busy:
            return False
        self._slot_taken = True
        wait = self._next_slot - self._clock.monotonic()
        if wait > 0:
            try:
                await wait_for_event(self._clock, self._quiet, wait)
            except asyncio.CancelledError:
                # Never sent, so never `done`: give the slot back here, or busy spells would have no sender.
                self._slot_taken = False
                self._wake_one()
                raise
        return True

    def done(self, started: float) -> None:
        """Give the slot back, and keep it closed long enough for the intake to have the rest of the time."""
        now = self._clock.monotonic()
        self._next_slot = now + min(self._max_pause, (now - started) * self._pause_factor)
        self._slot_taken = False
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
