"""Whom a notification mentions: its route's rules, resolved at send time from the event, like the template (a
config change applies to what is still queued). The rules themselves and what renderers take are in
notifier/render/mentions.py."""

from __future__ import annotations

from collections.abc import Iterable

from notifier.config.routes import RouteConfig
from notifier.keptn.events import KeptnEvent
from notifier.keptn.match import CompiledMatch
from notifier.render.mentions import NO_MENTIONS, Mentions, TeamsMention


class RouteMentions:
    """Every route's mention rules with their `when` compiled, built once from the config."""

    def __init__(self, routes: Iterable[RouteConfig]) -> None:
        self._rules = {
            route.name: tuple((CompiledMatch.of(rule.when), rule) for rule in route.mentions)
            for route in routes
            if route.mentions
        }

    def has(self, route: str) -> bool:
        """False for a route without mentions: callers need not even read the event."""
        return route in self._rules

    def resolve(self, route: str, event: KeptnEvent) -> Mentions:
        """Everyone the rules of `route` whose `when` holds name, each once, in the order configured."""
        slack: dict[str, None] = {}
        teams: dict[TeamsMention, None] = {}
        for when, rule in self._rules.get(route, ()):
            if when.miss(event) is None:
                slack.update(dict.fromkeys(rule.slack))
                teams.update(dict.fromkeys(rule.teams))
        return Mentions(tuple(slack), tuple(teams)) if slack or teams else NO_MENTIONS

    def explain(self, route: str, event: KeptnEvent) -> str | None:
        """For `keptn-notifier routes`: whom the route would mention, or why nobody; None when it has no rules."""
        rules = self._rules.get(route)
        if not rules:
            return None
        mentions = self.resolve(route, event)
        if mentions:
            return mentions.describe()
        return "nobody (" + "; ".join(f"{when.miss(event)}" for when, _ in rules) + ")"
