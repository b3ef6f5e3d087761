"""A channel's shared pacing: the pause a local store keeps in the process, and the slot rule a shared one uses.

A store that no other process shares keeps a channel's pause in memory and grants every send slot at once (the
worker's own pacer paces it). A shared store keeps both in the store, so that every replica together keeps to
the platform's limits, which are per channel, not per sender.
"""

from __future__ import annotations


class LocalPauses:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def extend(self, channel: str, until: float) -> float:
        current = max(self._until.get(channel, 0.0), until)
        if current:
            self._until[channel] = current
        return current


def next_slot(due: float, now: float, interval: float, burst: int) -> tuple[float, float]:
    """The generic cell rate algorithm: (when this send may go, the channel's next `due`), from its `due`.

    `due` is when the next send would go at the steady rate; up to `burst` sends may go at once after a quiet
    spell. The same rule as the pacer's token bucket, kept as one number so that a compare-and-set shares it.
    """
    send_at = max(now, due - (burst - 1) * interval)
    return send_at, max(due, send_at) + interval
