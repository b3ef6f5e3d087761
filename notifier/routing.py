"""Which channels an event goes to, and, for `keptn-notifier routes`, why a route was missed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from notifier.config import Config, RouteConfig
from notifier.events import KeptnEvent
from notifier.match import CompiledMatch


@dataclass(frozen=True, slots=True)
class Target:
    """One notification to make: a channel, and the template the route asks for (None: chosen by type)."""

    channel: str
    route: str
    template: str | None


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


class Router:
    def __init__(self, config: Config) -> None:
        settings = config.settings
        self._subscription = settings.subscription
        self._filters: Mapping[str, frozenset[str]] = {
            "project": frozenset(settings.project_filter),
            "stage": frozenset(settings.stage_filter),
            "service": frozenset(settings.service_filter),
        }
        self._routes = tuple(CompiledRoute(route, CompiledMatch.of(route.match)) for route in config.routes)

    def rejection(self, event: KeptnEvent) -> str | None:
        """Why the event is not wanted at all (subscription and the distributor-style filters), or None."""
        if not self._subscription.matches(event.type):
            return f"type {event.type} is not subscribed (PUBSUB_TOPIC={self._subscription})"
        for label, actual in (("project", event.project), ("stage", event.stage), ("service", event.service)):
            allowed = self._filters[label]
            if allowed and actual not in allowed:
                return f"{label} {actual or '(none)'!r} is filtered out by {label.upper()}_FILTER"
        return None

    def targets(self, event: KeptnEvent) -> list[Target]:
        """One target per channel; a channel that several routes name gets the event once (first route wins)."""
        if self.rejection(event) is not None:
            return []
        found: dict[str, Target] = {}
        for route in self._routes:
            if route.miss(event) is None:
                for channel in route.config.channels:
                    found.setdefault(channel, Target(channel, route.config.name, route.config.template))
        return list(found.values())

    def explain(self, event: KeptnEvent) -> tuple[str | None, list[Verdict]]:
        rejection = self.rejection(event)
        verdicts = []
        for route in self._routes:
            reason = rejection or route.miss(event)
            verdicts.append(
                Verdict(route.config.name, reason is None, tuple(route.config.channels), reason or "matches")
            )
        return rejection, verdicts
