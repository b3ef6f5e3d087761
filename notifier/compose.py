"""From a stored event to a platform payload: parse, template, render, with one render per event and format."""

from __future__ import annotations

from collections import OrderedDict

import orjson

from notifier.events import EventError, KeptnEvent, event_from_mapping
from notifier.message import Message
from notifier.metrics import Metrics
from notifier.render import render
from notifier.templating import TemplateSet, fallback_message

# Renders kept for channels of the same platform that send the same event a moment later (fan-out).
CACHE_SIZE = 256


class Composer:
    def __init__(self, templates: TemplateSet, metrics: Metrics | None = None) -> None:
        self.templates = templates
        self._metrics = metrics
        self._cache: OrderedDict[tuple[int, str | None, str], object] = OrderedDict()

    def message(self, event: KeptnEvent, template: str | None) -> Message:
        if template is not None and not self.templates.has(template):
            message = fallback_message(event, f"template {template!r} does not exist")
        else:
            message = self.templates.render(event, template)
        if message.template == "fallback" and self._metrics is not None:
            self._metrics.template_failures.labels(template or self.templates.select(event.type)).inc()
        return message

    def payload(self, event_seq: int, body: bytes, template: str | None, fmt: str) -> object:
        key = (event_seq, template, fmt)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        payload = render(fmt, self.message(load_event(body), template))
        self._cache[key] = payload
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return payload


def load_event(body: bytes) -> KeptnEvent:
    """A stored event; it was validated on the way in, so a failure here means a damaged row."""
    try:
        return event_from_mapping(orjson.loads(body))
    except (orjson.JSONDecodeError, EventError) as exc:
        raise EventError(f"stored event cannot be read: {exc}") from None
