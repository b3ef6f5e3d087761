"""Which routes and channels a silence can touch, read off the config before it mutes anything.

A route and channel is out of reach when some matcher cannot hold for anything the route sends there: its
`channel` or `route` matcher refuses the name, a `type` matcher shares no subject with the route's `types` (and
the subscription's), or a `project`, `stage`, `service`, `result` or `status` matcher refuses every value the
route's match lists, or the label the route requires. Anything else (a `source`, a `message`, a route that lists
nothing) may hold, so the answer errs on the side of "can touch".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from notifier.config.routes import RouteConfig
from notifier.config.settings import Settings
from notifier.keptn.fields import label_name
from notifier.keptn.subjects import SubjectPattern, SubjectSet
from notifier.silences.matchers import Matcher
from notifier.silences.silence import Silence

# The fields a route's match (and the subscription's filters) lists values of.
_LISTED = {"project": "projects", "stage": "stages", "service": "services", "result": "results", "status": "statuses"}
_FILTERS = {"project": "project_filter", "stage": "stage_filter", "service": "service_filter"}


@dataclass(frozen=True, slots=True)
class Reach:
    """The channels of each route the silence can touch, and, for the routes it cannot, why not."""

    touches: Mapping[str, tuple[str, ...]]
    misses: Mapping[str, str]

    def describe(self) -> list[str]:
        """Lines for people: what it can touch, or that it can match nothing the routes send, and why."""
        if self.touches:
            return [f"route {route} -> {', '.join(channels)}" for route, channels in self.touches.items()]
        why = "; ".join(f"route {route}: {reason}" for route, reason in self.misses.items())
        return [f"it can match nothing the routes send ({why})" if why else "it can match nothing: there are no routes"]


def reach(silence: Silence, routes: Sequence[RouteConfig], settings: Settings) -> Reach:
    touches: dict[str, tuple[str, ...]] = {}
    misses: dict[str, str] = {}
    for route in routes:
        why = next((reason for m in silence.matchers if (reason := _route_miss(m, route, settings))), None)
        if why is not None:
            misses[route.name] = why
            continue
        channels = [channel for channel in route.channels if _channel_ok(silence.matchers, channel)]
        if channels:
            touches[route.name] = tuple(channels)
        else:
            misses[route.name] = f"no channel of it matches ({', '.join(route.channels)})"
    return Reach(touches, misses)


def _channel_ok(matchers: Sequence[Matcher], channel: str) -> bool:
    return all(matcher.accepts(channel) for matcher in matchers if matcher.field == "channel")


def _route_miss(matcher: Matcher, route: RouteConfig, settings: Settings) -> str | None:
    """Why the matcher holds for nothing the route sends, or None when it may hold."""
    name = matcher.field
    if name == "route":
        return None if matcher.accepts(route.name) else f"{matcher} refuses the route's name"
    if name == "type":
        return _type_miss(matcher, route, settings)
    for values in (_route_values(route, name), _filter_values(settings, name)):
        if values and not any(matcher.accepts(value) for value in values):
            return f"{matcher} refuses {', '.join(values)}"
    label = label_name(name)
    if label is not None and label in route.match.labels and not matcher.accepts(route.match.labels[label]):
        return f"{matcher} refuses the route's label {label}={route.match.labels[label]}"
    return None


def _route_values(route: RouteConfig, name: str) -> list[str]:
    setting = _LISTED.get(name)
    return list(getattr(route.match, setting)) if setting else []


def _filter_values(settings: Settings, name: str) -> list[str]:
    setting = _FILTERS.get(name)
    return list(getattr(settings, setting)) if setting else []


def _type_miss(matcher: Matcher, route: RouteConfig, settings: Settings) -> str | None:
    """A `type=` matcher (with or without wildcards) against the route's types and the subscription."""
    if matcher.op != "=":
        return None
    try:
        wanted = SubjectPattern.parse(matcher.value)
    except ValueError:
        return f"{matcher} is no event type"
    types = SubjectSet.parse(route.match.types)
    for patterns, what in ((types, "the route's types"), (settings.subscription, "PUBSUB_TOPIC")):
        if not any(_overlap(wanted.tokens, pattern.tokens) for pattern in patterns.patterns):
            return f"{matcher} shares no event type with {what} ({patterns})"
    return None


def _overlap(first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    """Whether some subject matches both patterns (`*` one token, `>` one or more at the end)."""
    if not first or not second:
        return not first and not second
    head, rest = first[0], first[1:]
    other, others = second[0], second[1:]
    if head == ">" or other == ">":
        # One or more tokens: what the other has left must be at least one token, and then anything goes.
        return True
    if head != "*" and other != "*" and head != other:
        return False
    return _overlap(rest, others)
