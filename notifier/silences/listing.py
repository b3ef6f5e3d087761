"""The silences as `silence list` and `GET /api/v1/silences` show them: each with its state and what it muted.

One JSON shape for both (Alertmanager's field names where it has one): `id`, `matchers` (as written),
`startsAt`, `endsAt`, `createdBy`, `comment`, `drop`, `status.state` (pending, active or expired), and `muted`
(how many notifications it muted) with `mutedByChannel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from notifier.silences.silence import described, state_of
from notifier.store.protocol import MutedCount, SilenceRecord, SilenceStore


@dataclass(frozen=True, slots=True)
class Listed:
    silence: SilenceRecord
    state: str
    muted: tuple[MutedCount, ...]

    @property
    def total(self) -> int:
        return sum(count.count for count in self.muted)

    def by_channel(self) -> dict[str, int]:
        channels: dict[str, int] = {}
        for count in self.muted:
            channels[count.channel] = channels.get(count.channel, 0) + count.count
        return channels

    def as_json(self) -> dict[str, Any]:
        return {
            **described(self.silence),
            "drop": self.silence.drop,
            "status": {"state": self.state},
            "muted": self.total,
            "mutedByChannel": self.by_channel(),
        }


async def listing(store: SilenceStore, now: float) -> list[Listed]:
    """Every silence the store keeps (ended ones for SILENCE_KEPT), oldest start first, with what it muted."""
    return [
        Listed(silence, state_of(silence.starts, silence.ends, now), tuple(await store.muted(silence.id)))
        for silence in await store.silences()
    ]
