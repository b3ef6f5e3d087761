"""`keptn-notifier preview`: one offline HTML page showing what each event would post, and where.

For each event the page shows the Slack and the Teams message side by side, drawn from the very payloads the
renderers produce (the dicts a channel would send), and says which channels and routes the event reaches,
or why `serve` would ignore it. A route that names its own template gets its own pair. The page loads
nothing (inline CSS, no script; a Content-Security-Policy forbids the rest), so it can be opened anywhere
and attached to a review, and every string from an event or a template reaches it escaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from notifier.channels import channel_format
from notifier.config import Config
from notifier.events import KeptnEvent
from notifier.mentions import NO_MENTIONS, Mentions, RouteMentions
from notifier.message import Message
from notifier.render.html_common import attribute, link, text
from notifier.render.html_slack import notification_text, slack_html
from notifier.render.html_style import STYLESHEET
from notifier.render.html_teams import teams_html
from notifier.render.slack import render_slack
from notifier.render.slack_builder import builder_link
from notifier.render.teams import render_teams
from notifier.routing import Router, Verdict
from notifier.templating import TemplateSet

# Nothing but the inline stylesheet may load or run, whatever an escaping bug might let through.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
PLATFORM_OF_FORMAT = {
    "slack": "Slack",
    "teams": "Teams",
    "teams-card": "Teams, the bare card",
    "messagecard": "Teams MessageCard; the Teams column shows the Adaptive Card instead",
    "text": "console text",
}
_CLOCK = re.compile(r"T(\d\d:\d\d)")


@dataclass(frozen=True, slots=True)
class Source:
    """An event and what to call it on the page (its file name)."""

    label: str
    event: KeptnEvent


@dataclass(frozen=True, slots=True)
class Delivery:
    channel: str
    route: str
    format: str


@dataclass(frozen=True, slots=True)
class Rendition:
    """One template's message for the event, as Slack and Teams payloads, and the channels that get it."""

    template: str
    message: Message
    slack: dict[str, Any]
    teams: dict[str, Any]
    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True, slots=True)
class EventPreview:
    source: Source
    # Why `serve` would post nothing ("" when some channel gets it), and the routes that miss.
    ignored: str
    misses: tuple[Verdict, ...]
    renditions: tuple[Rendition, ...]


def preview_events(sources: Sequence[Source], config: Config, templates: TemplateSet) -> list[EventPreview]:
    router = Router(config)
    mentions = RouteMentions(config.routes)
    return [_preview(source, config, router, mentions, templates) for source in sources]


def _preview(
    source: Source, config: Config, router: Router, mentions: RouteMentions, templates: TemplateSet
) -> EventPreview:
    event = source.event
    rejection, verdicts = router.explain(event)
    targets = router.targets(event)
    misses = tuple(verdict for verdict in verdicts if not verdict.matched)
    # Routes that name no template get the one chosen by the event type; a named one gets its own pair, and so
    # do routes that mention other people.
    by_template: dict[tuple[str | None, Mentions], list[Delivery]] = {}
    for target in targets:
        fmt = channel_format(config.channels[target.channel])
        key = (target.template, mentions.resolve(target.route, event))
        by_template.setdefault(key, []).append(Delivery(target.channel, target.route, fmt))
    if not by_template:
        by_template[None, NO_MENTIONS] = []
    renditions = tuple(
        _rendition(event, templates, template, mentioned, tuple(deliveries))
        for (template, mentioned), deliveries in by_template.items()
    )
    ignored = "" if targets else (rejection or "no route matches it")
    return EventPreview(source, ignored, misses if not rejection else (), renditions)


def _rendition(
    event: KeptnEvent,
    templates: TemplateSet,
    template: str | None,
    mentions: Mentions,
    deliveries: tuple[Delivery, ...],
) -> Rendition:
    message = templates.render(event, template)
    name = template or templates.select(event.type)
    return Rendition(name, message, render_slack(message, mentions), render_teams(message, mentions), deliveries)


# -- the page ------------------------------------------------------------------------------------------------


def preview_page(previews: Sequence[EventPreview], config: Config) -> str:
    settings = config.settings
    templates_note = (
        f"built-in, overridden by {text(settings.templates_dir)} (TEMPLATES_DIR)"
        if settings.templates_dir
        else "built-in (set TEMPLATES_DIR to preview your own)"
    )
    posted = sum(1 for preview in previews if not preview.ignored)
    sections = "".join(_event_section(number, preview) for number, preview in enumerate(previews, 1))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>keptn-notifier preview: {len(previews)} event(s)</title>"
        f'<style>{STYLESHEET}</style></head><body><main class="page">'
        '<header class="page-header"><h1>keptn-notifier preview</h1>'
        f"<p>{len(previews)} event(s): {posted} would be posted, {len(previews) - posted} ignored.</p>"
        f"<p>Config: {text(config.origin)}. Subscription: <code>{text(settings.subscription)}</code>.</p>"
        f"<p>Templates: {templates_note}.</p></header>"
        f"{_index(previews)}{sections}</main></body></html>\n"
    )


def _index(previews: Sequence[EventPreview]) -> str:
    rows = "".join(
        f'<tr><td><a href="#event-{number}">{number}</a></td><td>{text(preview.source.label)}</td>'
        f'<td class="mono">{text(preview.source.event.type)}</td><td>{_outcome(preview)}</td></tr>'
        for number, preview in enumerate(previews, 1)
    )
    return f'<table class="index"><tr><th>#</th><th>file</th><th>type</th><th>goes to</th></tr>{rows}</table>'


def _outcome(preview: EventPreview) -> str:
    if preview.ignored:
        return '<span class="ignored-note">not posted (see why below)</span>'
    channels = dict.fromkeys(d.channel for r in preview.renditions for d in r.deliveries)
    return text(", ".join(channels))


def _event_section(number: int, preview: EventPreview) -> str:
    event = preview.source.event
    where = "/".join(part or "-" for part in (event.project, event.stage, event.service))
    outcome = " · ".join(
        f"{label} {text(value)}" for label, value in (("result", event.result), ("status", event.status)) if value
    )
    severity = preview.renditions[0].message.severity.value
    head = (
        f'<div class="event-head"><h2>{number}. {text(preview.source.label)}</h2>'
        f'<span class="event-type">{text(event.type)}</span>'
        f'<span class="event-where">{text(where)}{" · " + outcome if outcome else ""}</span>'
        f'<span class="badge {attribute(severity)}">{text(severity)}</span></div>'
    )
    renditions = "".join(_rendition_html(rendition, event, preview) for rendition in preview.renditions)
    return (
        f'<section class="event" id="event-{number}" data-event="{number}">{head}{_routing(preview)}'
        f"{renditions}</section>"
    )


def _routing(preview: EventPreview) -> str:
    misses = "".join(
        f"<li>route <b>{text(verdict.route)}</b>: {text(verdict.reason)}</li>" for verdict in preview.misses
    )
    if preview.ignored:
        return (
            f'<div class="routing ignored"><b>Would not be posted:</b> {text(preview.ignored)}.'
            f"{f'<ul>{misses}</ul>' if misses else ''}</div>"
        )
    reached = "".join(
        f"<li><b>{text(delivery.channel)}</b> ({text(PLATFORM_OF_FORMAT.get(delivery.format, delivery.format))}) "
        f"via route <b>{text(delivery.route)}</b>, template <b>{text(rendition.template)}</b></li>"
        for rendition in preview.renditions
        for delivery in rendition.deliveries
    )
    others = f'<div class="misses">Routes it misses:<ul>{misses}</ul></div>' if misses else ""
    return f'<div class="routing posted"><b>Posted to:</b><ul>{reached}</ul>{others}</div>'


def _rendition_html(rendition: Rendition, event: KeptnEvent, preview: EventPreview) -> str:
    heading = ""
    if len(preview.renditions) > 1 or preview.ignored:
        label = "what it would look like" if preview.ignored else "the message for these channels"
        heading = f'<div class="rendition-head">Template <b>{text(rendition.template)}</b>: {label}</div>'
    if rendition.message.template == "fallback":
        heading += '<div class="rendition-head unsupported">The template failed: this is the plain fallback.</div>'
    clock = _CLOCK.search(event.time)
    time = text(clock.group(1)) if clock else ""
    slack_reach = _reach(rendition, ("slack",), "Slack")
    teams_reach = _reach(rendition, ("teams", "teams-card", "messagecard"), "Teams")
    slack = (
        f'<div class="platform slack"><div class="platform-name">Slack<span class="reach">{slack_reach}</span></div>'
        '<div class="slack-pane"><div class="sk-message"><div class="sk-avatar">K</div><div class="sk-content">'
        f'<div class="sk-meta"><span class="sk-name">keptn-notifier</span><span class="sk-app">APP</span>'
        f'<span class="sk-time">{time}</span></div>{slack_html(rendition.slack)}</div></div></div>'
        f'<div class="platform-foot">Notification text: {notification_text(rendition.slack)} · '
        f"{link(builder_link(rendition.slack), 'open in Block Kit Builder')}"
        f"{_json_details('Slack payload', rendition.slack)}</div></div>"
    )
    teams = (
        f'<div class="platform teams"><div class="platform-name">Microsoft Teams'
        f'<span class="reach">{teams_reach}</span></div>'
        '<div class="teams-pane"><div class="tm-message"><div class="tm-avatar">W</div><div class="tm-content">'
        f'<div class="tm-meta"><span class="tm-name">Workflows</span><span>{time}</span></div>'
        f"{teams_html(rendition.teams)}</div></div></div>"
        f'<div class="platform-foot">Adaptive Card {text(_card_version(rendition.teams))}'
        f"{_json_details('Teams payload', rendition.teams)}</div></div>"
    )
    return f'{heading}<div class="pair">{slack}{teams}</div>'


def _reach(rendition: Rendition, formats: tuple[str, ...], platform: str) -> str:
    """The channels of this platform that get the message, for the top of its column."""
    channels = [delivery.channel for delivery in rendition.deliveries if delivery.format in formats]
    if channels:
        return text("→ " + ", ".join(dict.fromkeys(channels)))
    return f"no {platform} channel gets it" if rendition.deliveries else ""


def _card_version(envelope: dict[str, Any]) -> str:
    try:
        return str(envelope["attachments"][0]["content"]["version"])
    except (KeyError, IndexError, TypeError):
        return "?"


def _json_details(title: str, payload: dict[str, Any]) -> str:
    body = text(json.dumps(payload, indent=2, ensure_ascii=False))
    return f'<details class="json"><summary>{text(title)} (JSON)</summary><pre>{body}</pre></details>'
