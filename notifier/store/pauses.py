"""A channel's pause kept in the process: what a store that no other process shares answers `channel_pause` with."""

from __future__ import annotations


class LocalPauses:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def extend(self, channel: str, until: float) -> float:
        current = max(self._until.get(channel, 0.0), until)
        if current:
            self._until[channel] = current
        return current
