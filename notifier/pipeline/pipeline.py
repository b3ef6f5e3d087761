"""What every intake's events go through before the sender hears back: bound, subscribe, route, noise, silence,
accept, wake.

Each stage is its own small unit (`bounds`, `subscription`, `routing`, `noise`, `silence`, `accept`, and a wake-up
callable); the pipeline only runs them in order, counts, and tells the intake priority how many submits are in
flight. An intake hands its events to `submit` and acknowledges its sender only after `submit` returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from notifier.config.load import Config
from notifier.intake.protocol import Summary
from notifier.keptn.events import KeptnEvent
from notifier.metrics import Metrics
from notifier.pipeline.accept import Accept
from notifier.pipeline.bounds import Bound
from notifier.pipeline.noise import NoiseStage
from notifier.pipeline.routing import Routes, Target
from notifier.pipeline.silence import SilenceStage
from notifier.pipeline.subscription import Subscription
from notifier.silences.active import ActiveSilences
from notifier.store import Store

log = logging.getLogger("notifier.pipeline")

# Stage 5: told the channels that have new notifications, so that their workers look now, not at their next poll.
Wake = Callable[[Collection[str]], None]


class IntakeLoad(Protocol):
    """Hears when a submit starts and when it is answered: the intake priority (priority.py) counts them."""

    def arrived(self) -> None: ...

    def answered(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Stages:
    """The stages made from the config: one object, so that a reload replaces them all in one assignment and a
    submit runs on the ones it started with."""

    bound: Bound
    subscription: Subscription
    routes: Routes
    noise: NoiseStage

    @classmethod
    def of(cls, config: Config) -> Stages:
        return cls(
            Bound.from_settings(config.settings),
            Subscription.from_settings(config.settings),
            Routes(config.routes, config.channels),
            NoiseStage(config.routes),
        )


class Pipeline:
    def __init__(
        self, stages: Stages, silence: SilenceStage, accept: Accept, wake: Wake, metrics: Metrics, load: IntakeLoad
    ) -> None:
        """`load` hears of every submit, from any intake, when it starts and when it returns."""
        self._stages = stages
        self._silence = silence
        self._accept = accept
        self._wake = wake
        self._metrics = metrics
        self._load = load

    @classmethod
    def build(
        cls, config: Config, store: Store, silences: ActiveSilences, wake: Wake, metrics: Metrics, load: IntakeLoad
    ) -> Pipeline:
        return cls(Stages.of(config), SilenceStage(silences), Accept(store, metrics), wake, metrics, load)

    def reconfigure(self, config: Config) -> None:
        """Events submitted from now on are bounded, subscribed, routed and noise-planned by `config`; a submit
        in flight finishes with the stages it started with."""
        self._stages = Stages.of(config)

    async def submit(self, events: Sequence[KeptnEvent], size: int | None = None) -> Summary:
        """Returns once every wanted event is committed to the store: only then may the intake acknowledge.

        `size` is the length of the encoded form the events came in, when known (it spares the bounding work).
        Raises EventError when an event is beyond the input limits (then nothing of the batch is stored), and
        StoreError when the store cannot be written.
        """
        self._load.arrived()
        try:
            return await self._submit(self._stages, events, size)
        finally:
            self._load.answered()

    async def _submit(self, stages: Stages, events: Sequence[KeptnEvent], size: int | None) -> Summary:
        events = stages.bound(events, size)
        self._metrics.events_received.inc(len(events))
        wanted: list[tuple[KeptnEvent, Sequence[Target]]] = []
        for event in events:
            targets = self._targets(stages, event)
            if targets:
                wanted.append((event, self._silence(event, stages.noise(event, targets))))
        ignored = len(events) - len(wanted)
        if ignored:  # a counter's inc(0) still takes its lock
            self._metrics.events_ignored.inc(ignored)
        if not wanted:
            return Summary(ignored=ignored)
        fresh = await self._accept(wanted)
        woken = {
            target.channel
            for (_, targets), new in zip(wanted, fresh, strict=True)
            if new
            for target in targets
            if not target.silence
        }
        self._wake(woken)
        await self._silence.count(wanted, fresh)
        accepted = sum(fresh)
        return Summary(accepted=accepted, ignored=ignored, duplicates=len(fresh) - accepted)

    def _targets(self, stages: Stages, event: KeptnEvent) -> list[Target]:
        rejection = stages.subscription.rejection(event)
        targets = [] if rejection is not None else stages.routes.targets(event)
        if not targets and log.isEnabledFor(logging.DEBUG):
            log.debug(
                "ignored %s: %s",
                event.type,
                rejection or "no route matches",
                extra={"keptnContext": event.keptn_context, "eventId": event.id},
            )
        return targets
