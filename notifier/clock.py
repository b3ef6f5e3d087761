"""Time as one injected object: wall time for what is stored, monotonic time for intervals, and sleeping.

The store, delivery, pacing and intake priority take a `Clock` instead of reading the time themselves, so that
tests can move time by hand and a retry after an hour takes no hour to test.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch: for times that are stored or compared across restarts."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go back: for intervals inside one process."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def wait_for_event(clock: Clock, event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` of `clock` have passed; True when the event was set."""
    if event.is_set():
        return True
    if seconds <= 0:
        await asyncio.sleep(0)  # still a yield: a caller looping on it cannot starve the event loop
        return event.is_set()
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        sleeper.cancel()
    return event.is_set()
