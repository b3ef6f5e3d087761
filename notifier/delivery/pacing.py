"""Per-channel pacing: a token bucket, plus a pause the platform can impose (Retry-After) or backoff sets."""

from __future__ import annotations

import asyncio

from notifier.channels.base import RateLimit
from notifier.clock import Clock


class Pacer:
    def __init__(self, limit: RateLimit | None, clock: Clock) -> None:
        # None: the channel is not paced.
        self.limit = limit
        self._clock = clock
        self._rate = limit.per_second if limit else 0.0
        self._burst = float(limit.burst) if limit else 0.0
        self._tokens = self._burst
        self._stamp = clock.monotonic()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        """No send on this channel before `seconds` from now (only ever extends a pause)."""
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock.monotonic())

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                if (wait := self.paused_for) > 0:
                    await self._clock.sleep(wait)
                    continue
                if not self._rate:
                    return
                now = self._clock.monotonic()
                self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await self._clock.sleep((1 - self._tokens) / self._rate)
