"""A silence's matchers: `name op value`, with Alertmanager's operators, on the fields routes match on.

A name is a field of notifier.keptn.fields (read off the event as routes read it: `result` is the worst result
the event reports) or the notification's `channel` or `route`. `=` and `!=` compare exactly (`type=` takes NATS
wildcards, as a route's `types`); `=~` and `!~` take a regular expression that must match the whole value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from notifier.keptn.events import KeptnEvent
from notifier.keptn.fields import FIELDS, Reader, UnknownField, canonical, closest_field, field_reader
from notifier.keptn.subjects import SubjectPattern
from notifier.suggest import closest

# The names that are the notification's, not its event's.
DESTINATION: Final = ("channel", "route")
# The name is everything before the first operator; a label's name may hold spaces ("label:Problem URL").
_MATCHER = re.compile(r"^\s*(?P<name>[^=!~]+?)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$", re.DOTALL)
# Values compared as routes compare them: in lower case.
_LOWER_CASE: Final = frozenset({"result", "status"})


class MatcherError(ValueError):
    """A matcher that cannot be used; the text says what is wrong with it and how to write it."""


# What a matcher reads: the event, the notification's channel and its route.
Read = Callable[[KeptnEvent, str, str], str]


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: str
    value: str
    read: Read = field(compare=False, repr=False)
    test: Callable[[str], bool] = field(compare=False, repr=False)

    def matches(self, event: KeptnEvent, channel: str, route: str) -> bool:
        return self.test(self.read(event, channel, route))

    def accepts(self, value: str) -> bool:
        """Whether the matcher holds for a field with this value (what a route or a channel name may be)."""
        return self.test(value)

    @property
    def field(self) -> str:
        """The field it reads, one spelling per field (`labels.team` is `label:team`)."""
        return canonical(self.name)

    def __str__(self) -> str:
        return f"{self.name}{self.op}{_quoted(self.value)}"


def parse_matcher(text: str) -> Matcher:
    found = _MATCHER.match(text)
    if found is None:
        raise MatcherError(
            f"{text!r} is not a matcher: write name, operator and value, e.g. stage=production, "
            "type=sh.keptn.event.*.finished, service!=carts, project=~sock.*"
        )
    name, op, value = found["name"], found["op"], _unquoted(found["value"])
    read = _reader(name)
    if name in _LOWER_CASE and op in ("=", "!="):
        value = value.lower()
    return Matcher(name, op, value, read, _test(name, op, value, text))


def _reader(name: str) -> Read:
    if name == "channel":
        return lambda event, channel, route: channel
    if name == "route":
        return lambda event, channel, route: route
    try:
        reader: Reader = field_reader(name)
    except UnknownField:
        guess = closest(name, DESTINATION) or closest_field(name)
        hint = f" (did you mean {guess!r}?)" if guess else ""
        raise MatcherError(
            f"unknown field {name!r}{hint}: use {', '.join((*FIELDS, *DESTINATION))} or label:<name> (e.g. label:team)"
        ) from None
    return lambda event, channel, route: reader(event)


def _test(name: str, op: str, value: str, text: str) -> Callable[[str], bool]:
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise MatcherError(f"{text!r}: the regular expression {value!r} does not compile: {exc}") from None
        if op == "=~":
            return lambda actual: pattern.fullmatch(actual) is not None
        return lambda actual: pattern.fullmatch(actual) is None
    if op == "=" and name == "type" and ("*" in value or ">" in value):
        try:
            subject = SubjectPattern.parse(value)
        except ValueError as exc:
            raise MatcherError(f"{text!r}: {exc}") from None
        return subject.matches
    if op == "=":
        return lambda actual: actual == value
    return lambda actual: actual != value


def _unquoted(value: str) -> str:
    """`"production"` as `production`, as amtool takes it; a value that only starts with a quote stays."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _quoted(value: str) -> str:
    """The value as `parse_matcher` reads it back the same."""
    if value != value.strip() or (len(value) >= 2 and value[0] == value[-1] == '"') or not value:
        return f'"{value}"'
    return value
