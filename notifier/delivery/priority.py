"""Intake first, only while the intake is contended, and less so the older the backlog.

Accepting cannot wait (the distributor gives up after 5 s and never retries); delivery can, because every
accepted event is already on disk. But delivery must also keep up with any stream the service can carry, so it
yields only while requests actually queue up, and never for long:

- The intake is *contended* while requests in flight (arrived, not yet answered) are at least `contended_at`,
  and for `quiet_after` seconds after they last were. The hold bridges the dip of a group commit, which answers
  every waiting request at once. While it is not contended, every sender runs freely.
- While it is contended, the whole service sends one notification at a time, and after each send pauses long
  enough that sends take at most `share(age)` of the wall time, where age is how old the notification was:
  `share(age) = min(max_share, base_share * 2 ** (age / doubling))`. A young backlog (a burst) yields almost
  everything to the intake; an old one gets up to `max_share`, and the intake keeps the rest.
- Even when it is not contended, at most `per_round` sends start in one round of the event loop. Sends finish
  together (one store commit answers them all at once), and 32 renders back to back would keep the loop from
  reading requests for 15 ms: that stall alone would make the intake contended.

docs/design.md ("Scheduling") says why this keeps both promises.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from notifier.clock import Clock, wait_for_event

# Requests in flight from which the intake counts as contended: far more than a stream below capacity keeps
# (about 1 at 400 events/s), fewer than a burst does (the distributor sends many at once).
CONTENDED_AT = 8
# How long contention lasts after requests in flight were last at CONTENDED_AT or more.
QUIET_AFTER = 0.02
# Delivery's share of the time while contended, for a fresh backlog; it doubles every DOUBLING seconds of the
# age of what is sent, up to MAX_SHARE.
BASE_SHARE = 0.2
DOUBLING = 10.0
MAX_SHARE = 0.5
# Sends that may start in one round of the event loop (between two looks at the sockets).
PER_ROUND = 4
# The longest pause after one send, so that one slow platform cannot hold every channel for long.
MAX_PAUSE = 0.5


def delivery_share(age: float, base: float = BASE_SHARE, doubling: float = DOUBLING, most: float = MAX_SHARE) -> float:
    """The part of the time sends may take while the intake is contended, for a notification `age` seconds old."""
    return min(most, base * math.pow(2.0, max(0.0, age) / doubling))


class IntakePriority:
    def __init__(
        self,
        clock: Clock,
        quiet_after: float = QUIET_AFTER,
        share: float = BASE_SHARE,
        max_pause: float = MAX_PAUSE,
        contended_at: int = CONTENDED_AT,
        doubling: float = DOUBLING,
        max_share: float = MAX_SHARE,
        per_round: int = PER_ROUND,
    ) -> None:
        self._clock = clock
        self._quiet_after = quiet_after
        self._base_share = share
        self._doubling = doubling
        self._max_share = max(share, max_share)
        self._max_pause = max_pause
        self._contended_at = contended_at
        self._per_round = per_round
        self._started_this_round = 0
        # Senders waiting for a round with room, oldest first: each is woken once, when it may start.
        self._round_waiters: deque[asyncio.Future[None]] = deque()
        self._in_flight = 0
        self._last_contended = -math.inf
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._watch: asyncio.Task[None] | None = None
        # One send at a time while busy: whether it is taken, its holder's share, when it may next be taken, and
        # who waits for it.
        self._slot_taken = False
        self._slot_share = share
        self._next_slot = 0.0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def busy(self) -> bool:
        """The intake is contended: delivery takes turns."""
        return not self._quiet.is_set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def arrived(self) -> None:
        """Called when a request reaches the pipeline; `answered` when it is done. Cheap: a count, a clock read
        when contended, and at the start of a contended spell one watcher task."""
        self._in_flight += 1
        if self._in_flight >= self._contended_at:
            self._last_contended = self._clock.monotonic()
            if self._quiet.is_set():
                self._quiet.clear()
                self._watch = asyncio.create_task(self._watch_quiet(), name="intake-quiet")

    def answered(self) -> None:
        self._in_flight -= 1
        if self._in_flight == self._contended_at - 1:
            # It was contended up to now: the hold counts from here.
            self._last_contended = self._clock.monotonic()

    async def _watch_quiet(self) -> None:
        while True:
            now = self._clock.monotonic()
            if self._in_flight >= self._contended_at:
                # Still queued up (a slow commit holds them): contended for as long as they wait.
                self._last_contended = now
            left = self._last_contended + self._quiet_after - now
            if left <= 0:
                break
            await self._clock.sleep(left)
        self._watch = None
        self.close()

    def close(self) -> None:
        """Not contended from now on (until requests queue up again): every waiting sender may go."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        self._quiet.set()
        while self._waiting:
            self._wake_one()

    async def turn(self, created: float) -> bool:
        """Wait until the send of a notification created at `created` (wall time) may start. True means it
        holds the contended-time slot: call `done` after the send."""
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
            await self._round_turn()
            return False
        self._slot_taken = True
        self._slot_share = delivery_share(
            self._clock.time() - created, self._base_share, self._doubling, self._max_share
        )
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
        pause_factor = (1.0 - self._slot_share) / self._slot_share
        self._next_slot = now + min(self._max_pause, (now - started) * pause_factor)
        self._slot_taken = False
        self._wake_one()

    async def _round_turn(self) -> None:
        """Wait for a round of the event loop in which fewer than `per_round` sends have started. Waiters queue, and
        each round wakes only those it has room for: with 32 senders on each of five channels, a wake-up of every
        waiter each round cost more than the sends it let through."""
        if self._started_this_round < self._per_round and not self._round_waiters:
            self._start_in_round()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._round_waiters.append(waiter)
        await waiter  # `_new_round` counted this start in its round

    def _start_in_round(self) -> None:
        if self._started_this_round == 0:
            # The reset runs after the loop has looked at its sockets once more.
            asyncio.get_running_loop().call_soon(self._new_round)
        self._started_this_round += 1

    def _new_round(self) -> None:
        self._started_this_round = 0
        while self._round_waiters and self._started_this_round < self._per_round:
            waiter = self._round_waiters.popleft()
            if not waiter.done():  # a cancelled waiter gives its place to the next
                waiter.set_result(None)
                self._start_in_round()

    def _wake_one(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
