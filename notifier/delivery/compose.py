"""From a stored event to a platform payload: parse, template, render, with one render per event and format.

The mentions come from the notification's route, resolved here at send time like the template. A digest of
held notifications (noise control) and the summary of what a silence muted are rendered here too, through the
same renderers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import TypeVar

from notifier.delivery.mentions import RouteMentions
from notifier.keptn.events import KeptnEvent, StoredEvent, load_event
from notifier.message import Message, Payload
from notifier.metrics import Metrics
from notifier.noise.decide import HoldReason, hold_reason
from notifier.noise.digest import digest_message
from notifier.noise.rules import NoiseRules
from notifier.render import render
from notifier.silences.summary import summary_message
from notifier.store import Pending
from notifier.templating import TemplateSet, fallback_message

# Renders kept for channels that send the same event a moment later (fan-out): the template runs once per
# event, the platform renderer once per event and platform. Each channel's worker holds up to a fetch batch
# (128) of claimed notifications and channels drift apart by about that much, so the cache keeps two batches'
# worth per channel: with 256 for five channels, half the renders were made again (the benchmark's fan-out).
RENDERS_PER_CHANNEL = 256
# About 7.5 KB of memory per event kept (a message and its payloads, measured in that fan-out): at most 15 MB.
MOST_RENDERS = 2_048
_V = TypeVar("_V")


class _Lru(OrderedDict[Hashable, _V]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size

    def remember(self, key: Hashable, make: Callable[[], _V]) -> _V:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        if len(self) > self._size:
            self.popitem(last=False)
        return value


class Composer:
    def __init__(
        self,
        templates: TemplateSet,
        metrics: Metrics | None = None,
        mentions: RouteMentions | None = None,
        noise: Mapping[str, NoiseRules] | None = None,
        bridge_url: str = "",
        channels: int = 1,
    ) -> None:
        """`noise`: the rules of each route by name, for the words of its digests; `bridge_url` for their links;
        `channels`: how many channels share the renders."""
        self._metrics = metrics
        self.reconfigure(templates, mentions or RouteMentions(()), noise or {}, bridge_url, channels)

    def reconfigure(
        self,
        templates: TemplateSet,
        mentions: RouteMentions,
        noise: Mapping[str, NoiseRules],
        bridge_url: str,
        channels: int,
    ) -> None:
        """What is rendered from now on uses these (a reload): the renders kept so far are dropped, so a queued
        notification gets the templates and mentions in force when it is sent. Rendering never awaits, so no
        render sees half of the old config and half of the new."""
        self.templates = templates
        self._route_mentions = mentions
        self._noise = dict(noise)
        self._bridge_url = bridge_url
        size = min(MOST_RENDERS, RENDERS_PER_CHANNEL * max(1, channels))
        self._messages: _Lru[Message] = _Lru(size)
        self._payloads: _Lru[Payload] = _Lru(size)

    def message(self, event: KeptnEvent, template: str | None) -> Message:
        if template is not None and not self.templates.has(template):
            message = fallback_message(event, f"template {template!r} does not exist")
        else:
            message = self.templates.render(event, template)
        if message.template == "fallback" and self._metrics is not None:
            self._metrics.template_failures.labels(template or self.templates.select(event.type)).inc()
        return message

    def payload(self, event: str, stored: StoredEvent, template: str | None, fmt: str, route: str = "") -> Payload:
        """`event` names the stored event (the store's opaque event id): equal ids share one render."""
        message = self._messages.remember((event, template, ""), lambda: self.message(stored.read(), template))
        if not self._route_mentions.has(route):
            return self._payloads.remember((event, template, fmt), lambda: render(fmt, message))
        # The route's config is fixed until a reload, which empties the cache: its name stands for its mentions.
        return self._payloads.remember(
            (event, template, fmt, route),
            lambda: render(fmt, message, self._route_mentions.resolve(route, stored.read())),
        )

    def digest(self, item: Pending, fmt: str) -> Payload:
        """The one message for the held notifications of a claimed group; a digest of one is that notification."""
        if len(item.members) == 1:
            return self.payload(item.event, StoredEvent(item.body), item.template, fmt, item.route)
        events = [load_event(member.body) for member in item.members]
        # Quiet hours when any of them was held for quiet hours (a digest that fell into them joined theirs).
        quiet = any(member.note == HoldReason.QUIET_HOURS.value for member in item.members)
        reason = hold_reason(
            self._noise.get(item.route, NoiseRules()), HoldReason.QUIET_HOURS if quiet else HoldReason.DIGEST
        )
        return render(fmt, digest_message(events, self._bridge_url, reason))

    def summary(self, item: Pending, fmt: str) -> Payload:
        """The message of a silence's summary event for the notification's channel."""
        return render(fmt, summary_message(item.body, item.channel))
