"""A Keptn CloudEvent, typed: what every stage after the intake reads, whichever wire format it came in.

The intake parses the wire formats (notifier/intake/cloudevents.py); the store keeps the event's JSON, and
`load_event` reads it back at send time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from notifier.keptn.values import mapping, text

REQUIRED_ATTRIBUTES = ("id", "source", "type", "specversion")


class EventError(ValueError):
    """A request that does not hold a usable CloudEvent; the text says what is wrong and how to fix it."""


@dataclass(frozen=True, slots=True)
class KeptnEvent:
    """One CloudEvent as received. `raw` is the event as JSON (attributes and data), kept for templates.

    The properties read the fields everything else keys on, leniently (any JSON value gives text), so that
    the store and the templates see the same values. Routes, filters and repeat keys compare fields as
    notifier.keptn.fields reads them.
    """

    id: str
    source: str
    type: str
    specversion: str
    data: Mapping[str, Any]
    raw: Mapping[str, Any]

    @property
    def dedup_key(self) -> str:
        # The spec makes (source, id) unique; the same id from two sources is two events.
        return f"{self.source}\x1f{self.id}"

    @property
    def keptn_context(self) -> str:
        """The run key: `shkeptncontext` as text, which ties together all events of one Keptn run.

        Read here only: the store, the logs, the templates and the Bridge links all take it from this property.
        """
        return text(mapping(self.raw).get("shkeptncontext"))

    @property
    def time(self) -> str:
        return text(mapping(self.raw).get("time"))

    @property
    def project(self) -> str:
        return text(mapping(self.data).get("project"))

    @property
    def stage(self) -> str:
        return text(mapping(self.data).get("stage"))

    @property
    def service(self) -> str:
        return text(mapping(self.data).get("service"))

    @property
    def status(self) -> str:
        return text(mapping(self.data).get("status")).lower()

    @property
    def result(self) -> str:
        return text(mapping(self.data).get("result")).lower()

    @property
    def labels(self) -> dict[str, str]:
        return labels_of(mapping(self.data))


def labels_of(data: Mapping[str, Any]) -> dict[str, str]:
    """`data.labels` as text values; {} when it is not a mapping."""
    return {str(key): text(value) for key, value in mapping(data.get("labels")).items()}


def event_from_mapping(obj: object, where: str = "the event") -> KeptnEvent:
    if not isinstance(obj, dict):
        raise EventError(f"{where} must be a JSON object, got {type(obj).__name__}")
    missing = [name for name in REQUIRED_ATTRIBUTES if not obj.get(name)]
    if missing:
        raise EventError(
            f"{where} lacks the CloudEvents attribute(s) {', '.join(missing)}: "
            "every event needs a non-empty id, source, type and specversion"
        )
    for name in REQUIRED_ATTRIBUTES:
        if not isinstance(obj[name], str):
            raise EventError(f"{where}: attribute {name!r} must be a string")
    data = obj.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EventError(
            f"{where}: 'data' must be a JSON object (Keptn puts project, stage, service there), "
            f"got {type(data).__name__}"
        )
    return KeptnEvent(
        id=obj["id"],
        source=obj["source"],
        type=obj["type"],
        specversion=obj["specversion"],
        data=data,
        raw=obj,
    )


class StoredEvent:
    """An event as the store keeps it, read (parsed and checked) at most once, and only when something needs it:
    a render the cache already holds needs nothing of it."""

    __slots__ = ("_event", "body")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self._event: KeptnEvent | None = None

    def read(self) -> KeptnEvent:
        if self._event is None:
            self._event = load_event(self.body)
        return self._event


def load_event(body: bytes) -> KeptnEvent:
    """A stored event; it was validated on the way in, so a failure here means a damaged row."""
    try:
        return event_from_mapping(orjson.loads(body))
    except (orjson.JSONDecodeError, EventError) as exc:
        raise EventError(f"stored event cannot be read: {exc}") from None
