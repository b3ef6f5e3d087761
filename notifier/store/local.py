"""A channel's pace kept in the process, for a backend no other process shares; and the slot rule a shared
one keeps in its store.

A backend of one process keeps a channel's pause in memory and grants every send slot at once (the worker's own
pacer paces it). A shared backend keeps both where every replica sees them, so that all of them together keep to
the platform's limits, which are per channel, not per sender.
"""

from __future__ import annotations

from notifier.clock import Clock


class LocalPace:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}

    async def pause(self, channel: str, until: float = 0.0) -> float:
        current = max(self._until.get(channel, 0.0), until)
        if current:
            self._until[channel] = current
        return current

    async def slot(self, channel: str, interval: float, burst: int) -> float:
        return self._clock.time()


def next_slot(due: float, now: float, interval: float, burst: int) -> tuple[float, float]:
    """The generic cell rate algorithm: (when this send may go, the channel's next `due`), from its `due`.

    `due` is when the next send would go at the steady rate; up to `burst` sends may go at once after a quiet
    spell. The same rule as the pacer's token bucket, kept as one number so that a compare-and-set shares it.
    """
    send_at = max(now, due - (burst - 1) * interval)
    return send_at, max(due, send_at) + interval
