"""Which channels an event goes to, and, for `keptn-notifier routes`, why a route was missed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from notifier.channels.base import ChannelConfig
from notifier.config.routes import RouteConfig
from notifier.keptn.events import KeptnEvent
from notifier.keptn.match import CompiledMatch, Match
from notifier.noise.memory import NoisePlan
from notifier.runs.state import needs_a_person


@dataclass(frozen=True, slots=True)
class Target:
    """One notification to make: a channel, and the template the route asks for (None: chosen by type)."""

    channel: str
    route: str
    template: str | None
    # Into the thread of the run's run message (the route's `threading`, in a channel that can thread).
    threaded: bool = False
    # A thread reply also shown in the channel (the route's `broadcast`).
    broadcast: bool = False
    # Attached by the noise stage for a route with noise control (pipeline/noise.py).
    noise: NoisePlan | None = None
    # The id of the silence that mutes it (pipeline/silence.py): then it is not stored.
    silence: str = ""


@dataclass(frozen=True, slots=True)
class RouteCheck:
    route: str
    matched: bool
    channels: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    config: RouteConfig
    match: CompiledMatch
    # None: the default broadcast (what needs a person: `runs.needs_a_person`); "off": never.
    broadcast: CompiledMatch | str | None

    @classmethod
    def of(cls, route: RouteConfig) -> CompiledRoute:
        broadcast = route.broadcast
        compiled = CompiledMatch.of(broadcast) if isinstance(broadcast, Match) else broadcast
        return cls(route, CompiledMatch.of(route.match), compiled)

    def miss(self, event: KeptnEvent) -> str | None:
        """Why the event does not match, or None when it does."""
        return self.match.miss(event)

    def broadcasts(self, event: KeptnEvent) -> bool:
        """A configured match replaces the default, what a person must act on (alarms seen in the channel)."""
        if isinstance(self.broadcast, CompiledMatch):
            return self.broadcast.miss(event) is None
        return self.broadcast is None and needs_a_person(event) is not None

    def target(self, channel: str, config: ChannelConfig, event: KeptnEvent) -> Target:
        route = self.config
        if route.threading == "off" or not config.can_thread() or not event.keptn_context:
            return Target(channel, route.name, route.template)
        return Target(channel, route.name, route.template, threaded=True, broadcast=self.broadcasts(event))


class Routes:
    """Stage 3 of the pipeline: the channels a subscribed event goes to, from the configured routes."""

    def __init__(self, routes: Sequence[RouteConfig], channels: Mapping[str, ChannelConfig]) -> None:
        self._routes = tuple(CompiledRoute.of(route) for route in routes)
        self._channels = channels

    def targets(self, event: KeptnEvent) -> list[Target]:
        """One target per channel; a channel that several routes name gets the event once (first route wins)."""
        found: dict[str, Target] = {}
        for route in self._routes:
            if route.miss(event) is None:
                for channel in route.config.channels:
                    if channel not in found:
                        found[channel] = route.target(channel, self._channels[channel], event)
        return list(found.values())

    def checks(self, event: KeptnEvent, rejection: str | None = None) -> list[RouteCheck]:
        """Each route's verdict; a `rejection` (by the subscription) makes every route miss for that reason."""
        verdicts = []
        for route in self._routes:
            reason = rejection or route.miss(event)
            verdicts.append(
                RouteCheck(route.config.name, reason is None, tuple(route.config.channels), reason or "matches")
            )
        return verdicts
