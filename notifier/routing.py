"""Which channels an event goes to, and, for `keptn-notifier routes`, why a route was missed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from notifier.config import Config, RouteConfig
from notifier.events import KeptnEvent
from notifier.match import CompiledMatch
from notifier.store import Noise
from notifier.subscription import Subscription


@dataclass(frozen=True, slots=True)
class Target:
    """One notification to make: a channel, and the template the route asks for (None: chosen by type)."""

    channel: str
    route: str
    template: str | None
    # Attached by the noise stage for a route with noise control (see noise_stage.py).
    noise: Noise | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    route: str
    matched: bool
    channels: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    config: RouteConfig
    match: CompiledMatch

    def miss(self, event: KeptnEvent) -> str | None:
        """Why the event does not match, or None when it does."""
        return self.match.miss(event)


class Routes:
    """Stage 3 of the pipeline: the channels a subscribed event goes to, from the configured routes."""

    def __init__(self, routes: Sequence[RouteConfig]) -> None:
        self._routes = tuple(CompiledRoute(route, CompiledMatch.of(route.match)) for route in routes)

    def targets(self, event: KeptnEvent) -> list[Target]:
        """One target per channel; a channel that several routes name gets the event once (first route wins)."""
        found: dict[str, Target] = {}
        for route in self._routes:
            if route.miss(event) is None:
                for channel in route.config.channels:
                    found.setdefault(channel, Target(channel, route.config.name, route.config.template))
        return list(found.values())

    def verdicts(self, event: KeptnEvent, rejection: str | None = None) -> list[Verdict]:
        """Each route's verdict; a `rejection` (by the subscription) makes every route miss for that reason."""
        verdicts = []
        for route in self._routes:
            reason = rejection or route.miss(event)
            verdicts.append(
                Verdict(route.config.name, reason is None, tuple(route.config.channels), reason or "matches")
            )
        return verdicts


class Router:
    """Subscription and routes together: what `keptn-notifier routes` shows, in the pipeline's order."""

    def __init__(self, config: Config) -> None:
        self.subscription = Subscription.from_settings(config.settings)
        self.routes = Routes(config.routes)

    def rejection(self, event: KeptnEvent) -> str | None:
        """Why the event is not wanted at all (subscription and the distributor-style filters), or None."""
        return self.subscription.rejection(event)

    def targets(self, event: KeptnEvent) -> list[Target]:
        return [] if self.subscription.rejection(event) is not None else self.routes.targets(event)

    def explain(self, event: KeptnEvent) -> tuple[str | None, list[Verdict]]:
        rejection = self.subscription.rejection(event)
        return rejection, self.routes.verdicts(event, rejection)
