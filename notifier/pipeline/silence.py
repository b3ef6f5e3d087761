"""The pipeline stage between noise and accept: a target that an active silence mutes is marked, and accept
stores nothing of it.

What it muted is counted once the event is known to be new (a duplicate is muted again, but not counted twice):
in `keptn_notifier_notifications_silenced_total` and in the silence's counts, for its summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from notifier.keptn.events import KeptnEvent
from notifier.pipeline.routing import Target
from notifier.silences.active import ActiveSilences


class SilenceStage:
    def __init__(self, silences: ActiveSilences) -> None:
        self._silences = silences

    def __call__(self, event: KeptnEvent, targets: Sequence[Target]) -> Sequence[Target]:
        if self._silences.idle:
            return targets
        return [self._mark(event, target) for target in targets]

    def _mark(self, event: KeptnEvent, target: Target) -> Target:
        silence = self._silences.muting(event, target.channel, target.route)
        return target if silence is None else replace(target, silence=silence.id)

    async def count(self, wanted: Sequence[tuple[KeptnEvent, Sequence[Target]]], fresh: Sequence[bool]) -> None:
        """Count the muted targets of the events that were new."""
        for (event, targets), new in zip(wanted, fresh, strict=True):
            if new:
                for target in targets:
                    if target.silence:
                        await self._silences.muted(target.silence, event, target.route, target.channel)
