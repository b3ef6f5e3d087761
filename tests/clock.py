"""A clock that only moves when the test says so, for unit tests that must not wait for real time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

# How often `settle` yields to the event loop at most; far more than any chain of ready tasks here needs.
MAX_YIELDS = 10_000


class FakeClock:
    def __init__(self, wall: float = 1_790_000_000.0, monotonic: float = 1_000.0) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._monotonic + seconds, next(self._order), wake))
        await wake

    @property
    def next_wake(self) -> float | None:
        """Seconds from now until the earliest sleeper wakes, or None when nobody sleeps."""
        while self._sleepers and self._sleepers[0][2].done():  # cancelled sleeps
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] - self._monotonic if self._sleepers else None

    async def advance(self, seconds: float) -> None:
        """Let ready tasks run first, then move time on, waking every sleeper whose time has come in order."""
        await settle()
        target = self._monotonic + seconds
        while self.next_wake is not None and self._sleepers[0][0] <= target:
            when, _, future = heapq.heappop(self._sleepers)
            self._step_to(when)
            future.set_result(None)
            await settle()
        self._step_to(target)
        await settle()

    async def run_until(self, done: Callable[[], bool], within: float = 3600.0) -> float:
        """Let the tasks run and, whenever all of them wait, jump to the next wake-up, until `done()` holds.

        Returns the fake seconds that passed. Fails when nothing is left to wake or `within` would be exceeded.
        """
        start = self._monotonic
        await settle()
        while not done():
            wake = self.next_wake
            if wake is None:
                raise AssertionError("every task waits, nobody sleeps, and the condition does not hold")
            if self._monotonic + wake - start > within:
                raise AssertionError(f"the condition does not hold within {within} fake seconds")
            await self.advance(wake)
        return self._monotonic - start

    def _step_to(self, monotonic: float) -> None:
        self._wall += monotonic - self._monotonic
        self._monotonic = monotonic


async def settle() -> None:
    """Yield until no other task is ready to run: every task now waits for a sleep, an event or I/O."""
    # The default event loop keeps its ready callbacks in `_ready`: empty means every other task waits.
    ready = getattr(asyncio.get_running_loop(), "_ready", None)
    if ready is None:
        raise AssertionError("settle() needs the default asyncio event loop")
    for _ in range(MAX_YIELDS):
        await asyncio.sleep(0)
        if not ready:
            return
    raise AssertionError("the tasks never settled: something spins without waiting")
