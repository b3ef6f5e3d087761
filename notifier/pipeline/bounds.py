"""Stage 1 of the pipeline: hold events from outside to the input limits before anything else looks at them.

Every intake's events pass here, so a NATS message is bounded exactly as an HTTP request is. Structure beyond
the limits (nesting, key floods) is refused with an `EventError` that says which limit; long text is cut with
a marker, not refused, because a long message should still become a notification.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from notifier.config.settings import Settings
from notifier.keptn.events import EventError, KeptnEvent, event_from_mapping


@dataclass(frozen=True, slots=True)
class InputLimits:
    """Bounds on what one event may hold. Structure beyond them is refused; long text is cut, not refused."""

    max_depth: int = 32
    max_keys: int = 10_000
    max_string_chars: int = 8_192
    max_labels: int = 50


TRUNCATION_MARKER = "…[truncated]"
# A tuple, not `dict | list`: that expression builds a union object on every evaluation, once per value walked.
_CONTAINERS = (dict, list)


class Bound:
    def __init__(self, limits: InputLimits) -> None:
        self.limits = limits

    @classmethod
    def from_settings(cls, settings: Settings) -> Bound:
        return cls(InputLimits(settings.max_depth, settings.max_keys, settings.max_string_chars, settings.max_labels))

    def __call__(self, events: Sequence[KeptnEvent], size: int | None = None) -> list[KeptnEvent]:
        """The events within the limits; raises EventError for the first one whose structure is beyond them.

        `size` is the length of the encoded form the events came in (a request body, a message), when known.
        """
        return [bound_event(event, self.limits, size) for event in events]


def bound_event(event: KeptnEvent, limits: InputLimits, body_size: int | None = None) -> KeptnEvent:
    """Enforce `limits` on an event from outside: refuse deep or huge structures, cut long strings and labels.

    `body_size` (all the event came in: a body, and in binary mode its `ce-*` headers) lets a small event skip the
    string walk: it cannot hold a long string.
    """
    _check_shape(event.raw, limits)
    if body_size is not None and body_size <= limits.max_string_chars:
        bounded: Mapping[str, Any] = event.raw
    else:
        bounded = _cut_strings(event.raw, limits.max_string_chars)
    data = bounded.get("data") or {}
    labels = data.get("labels")
    if isinstance(labels, dict) and len(labels) > limits.max_labels:
        kept = dict(list(labels.items())[: limits.max_labels])
        data = {**data, "labels": kept}
        bounded = {**bounded, "data": data}
    if bounded is event.raw:
        return event
    return event_from_mapping(bounded)


def _check_shape(root: Mapping[str, Any], limits: InputLimits) -> None:
    stack: list[tuple[Any, int]] = [(root, 0)]
    items = 0
    while stack:
        node, depth = stack.pop()
        if depth >= limits.max_depth:
            raise EventError(f"the event is nested deeper than {limits.max_depth} levels; flatten 'data'")
        items += len(node)
        if items > limits.max_keys:
            raise EventError(f"the event holds more than {limits.max_keys} keys and items; send less data")
        for value in node.values() if isinstance(node, dict) else node:
            if isinstance(value, _CONTAINERS):
                stack.append((value, depth + 1))


def _cut_strings(value: Any, limit: int) -> Any:
    # Returns the same object when nothing had to change, so the common case allocates nothing.
    if isinstance(value, str):
        return value[:limit] + TRUNCATION_MARKER if len(value) > limit else value
    if isinstance(value, dict):
        changed = {key: _cut_strings(item, limit) for key, item in value.items()}
        return value if all(changed[key] is item for key, item in value.items()) else changed
    if isinstance(value, list):
        items = [_cut_strings(item, limit) for item in value]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    return value
