"""The CloudEvents wire formats an intake reads: the three HTTP content modes, and NATS messages (structured).

Structured and batch bodies are parsed here from the raw JSON, not through the cloudevents SDK: v2 invents an
`id` and a `time` when they are missing (deduplication needs the real ones) and handles no batches. Binary
mode goes through the SDK's HTTP binding, which owns the header decoding rules of the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from cloudevents.core.bindings.http import HTTPMessage, from_binary
from cloudevents.core.formats.json import JSONFormat

from notifier.keptn.events import REQUIRED_ATTRIBUTES, EventError, KeptnEvent, event_from_mapping

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
# Any of these headers makes a request binary mode, so that a missing one is named rather than guessed at.
BINARY_HEADERS = frozenset(f"ce-{name}" for name in REQUIRED_ATTRIBUTES)


def _loads(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EventError(f"the body is not valid JSON ({exc}); send one CloudEvent as a JSON object") from None


def parse_structured(body: bytes) -> KeptnEvent:
    return event_from_mapping(_loads(body))


def parse_batch(body: bytes, max_events: int) -> list[KeptnEvent]:
    obj = _loads(body)
    if not isinstance(obj, list):
        raise EventError("a batch (application/cloudevents-batch+json) must be a JSON array of events")
    if len(obj) > max_events:
        raise EventError(f"the batch holds {len(obj)} events, more than the limit of {max_events}: split it")
    # Counted from 1, as a person counts the events of the array.
    return [event_from_mapping(item, f"event #{number} of the batch") for number, item in enumerate(obj, 1)]


def parse_binary(headers: Mapping[str, str], body: bytes) -> KeptnEvent:
    lowered = {name.lower(): value for name, value in headers.items()}
    absent = [f"ce-{name}" for name in REQUIRED_ATTRIBUTES if f"ce-{name}" not in lowered]
    empty = [f"ce-{name}" for name in REQUIRED_ATTRIBUTES if f"ce-{name}" in lowered and not lowered[f"ce-{name}"]]
    if absent or empty:
        problems = []
        if absent:
            problems.append(f"lacks the header{'s' if len(absent) > 1 else ''} {', '.join(absent)}")
        if empty:
            problems.append(f"has an empty {', '.join(empty)} header{'s' if len(empty) > 1 else ''}")
        raise EventError(
            f"binary-mode event {' and '.join(problems)}: a binary-mode event needs non-empty ce-id, ce-source, "
            "ce-type and ce-specversion headers (or send the whole event as application/cloudevents+json)"
        )
    data = _loads(body) if body.strip() else {}
    if not isinstance(data, dict):
        raise EventError(f"'data' (the body of a binary-mode event) must be a JSON object, got {type(data).__name__}")
    ce_headers = {name: value for name, value in lowered.items() if name.startswith("ce-")}
    ce_headers["content-type"] = "application/json"
    try:
        decoded = from_binary(HTTPMessage(headers=ce_headers, body=b"{}"), JSONFormat())
    except Exception as exc:  # the SDK raises several exception types for bad attribute values
        raise EventError(f"binary-mode event has an invalid ce- header: {exc}") from None
    raw: dict[str, Any] = {name: str(value) for name, value in decoded.get_attributes().items()}
    # Keep the sender's own time text: the SDK reparses it and would drop nanoseconds.
    if "ce-time" in lowered:
        raw["time"] = lowered["ce-time"]
    raw.pop("datacontenttype", None)
    raw["data"] = data
    return event_from_mapping(raw)


def parse_request(content_type: str, headers: Mapping[str, str], body: bytes, max_batch: int) -> list[KeptnEvent]:
    """Parse an HTTP request body by its content type; raises EventError or UnsupportedMediaType.

    The events are not yet held to the input limits: that is the pipeline's first stage (`notifier.bounds`).
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == STRUCTURED:
        return [parse_structured(body)]
    if media_type == BATCH:
        return parse_batch(body, max_batch)
    if media_type in ("application/json", "") and any(name.lower() in BINARY_HEADERS for name in headers):
        return [parse_binary(headers, body)]
    if media_type == "application/json":
        # Some senders post a structured event with a plain JSON content type.
        return [parse_structured(body)]
    raise UnsupportedMediaType(
        f"content type {media_type or '(none)'!r} is not supported: send {STRUCTURED}, {BATCH}, "
        "or application/json with ce-* headers (binary mode)"
    )


class UnsupportedMediaType(EventError):
    pass
