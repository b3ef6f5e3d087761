"""`keptn-notifier preview`: one offline HTML page showing what each event would post, and where.

For each event the page shows the Slack and the Teams message side by side, drawn from the very payloads the
renderers produce (the dicts a channel would send), and says which channels and routes the event reaches,
or why `serve` would ignore it, and which active silence would mute it where. A route that names its own
template gets its own pair. A Slack bot channel
that threads is also shown as its readers see it: the events grouped by run (`shkeptncontext`), each run's
run message on top (replayed through the service's own `RunState` and `run_message`, as it stands after the
run's events), its replies beneath it, and the replies that are broadcast also in the channel. The page loads
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
from notifier.config.load import Config
from notifier.delivery.mentions import RouteMentions
from notifier.delivery.threads import reply_payload, run_message_payload
from notifier.keptn.events import KeptnEvent
from notifier.message import Message, Payload
from notifier.pipeline.explain import Router
from notifier.pipeline.routing import RouteCheck
from notifier.preview.html import attribute, link, text
from notifier.preview.slack_builder import builder_link
from notifier.preview.slack_html import notification_text, slack_html
from notifier.preview.style import STYLESHEET
from notifier.preview.teams_html import teams_html
from notifier.render.mentions import NO_MENTIONS, Mentions
from notifier.render.slack import render_slack
from notifier.render.teams import render_teams
from notifier.runs.message import run_message
from notifier.runs.state import run_of
from notifier.silences.silence import Silence, muting, timestamp
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
# The channel views: Slack's channel list with each run message's thread open beneath it, indented.
THREAD_STYLE = """
.channel-view { background: #fff; border-radius: 8px; margin: 22px 0; padding: 16px 18px 18px;
  box-shadow: 0 1px 3px rgba(0,0,0,.1); }
.channel-view > p { margin: 6px 0 10px; color: #454245; font-size: 13px; }
.channel-view .slack-pane { border: 1px solid #dddde0; border-radius: 8px; max-width: 820px; }
.sk-post { padding: 8px 0; border-bottom: 1px solid #f0f0f2; }
.sk-post:last-child { border-bottom: 0; }
.sk-edited, .sk-also, .sk-event { font-size: 12px; color: #616061; }
.sk-replied { font-size: 13px; color: #616061; margin: 2px 0 4px; overflow-wrap: anywhere; }
.sk-replies { font-size: 13px; font-weight: 700; color: #1264a3; margin: 6px 0 2px 44px; }
.sk-thread { margin: 4px 0 0 44px; padding-left: 14px; border-left: 2px solid #dddde0; }
.sk-thread > .sk-reply { padding: 6px 0; }
"""


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
    # A reply in the thread of its run's run message, and also shown in the channel (see routing.Target).
    threaded: bool = False
    broadcast: bool = False
    # The active silence that would mute it, in words ("" when none does): then nothing is posted.
    muted: str = ""


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
    misses: tuple[RouteCheck, ...]
    renditions: tuple[Rendition, ...]


def preview_events(
    sources: Sequence[Source],
    config: Config,
    templates: TemplateSet,
    silences: Sequence[Silence] = (),
    now: float = 0.0,
) -> list[EventPreview]:
    """`silences` (those in the service's store) that are active at `now` mark what they would mute."""
    router = Router(config)
    mentions = RouteMentions(config.routes)
    return [_preview(source, config, router, mentions, templates, silences, now) for source in sources]


def _preview(
    source: Source,
    config: Config,
    router: Router,
    mentions: RouteMentions,
    templates: TemplateSet,
    silences: Sequence[Silence],
    now: float,
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
        silence = muting(silences, event, target.channel, target.route, now)
        muted = "" if silence is None else f"muted by silence {silence.id} until {timestamp(silence.ends)}"
        delivery = Delivery(target.channel, target.route, fmt, target.threaded, target.broadcast, muted)
        by_template.setdefault(key, []).append(delivery)
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


# -- Slack bot channels as their readers see them ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Post:
    """A notification in a channel view: a reply in its run's thread, or (not threaded) a message of its own."""

    number: int  # the event's section on the page
    time: str
    payload: dict[str, Any]
    broadcast: bool = False


@dataclass(frozen=True, slots=True)
class RunView:
    """One run in a channel: its run message as the run's events leave it, and the replies in its thread."""

    context: str
    title: str
    run_message: dict[str, Any]
    replies: tuple[Post, ...]
    # Its later notifications changed the run: the run message was edited after it was posted.
    edited: bool


@dataclass(frozen=True, slots=True)
class ChannelView:
    channel: str
    runs: tuple[RunView, ...]
    # Notifications that are not threaded (no Keptn context, or the route's `threading: off`).
    singles: tuple[Post, ...]


def channel_views(previews: Sequence[EventPreview], config: Config) -> list[ChannelView]:
    """Each Slack channel that threads, with the previewed events that reach it grouped by run, in page order.

    The run message is what `serve` would have edited it to after these events: the events' `RunState`
    (the service's join, so any order gives the same) drawn by the same function the run threads post with.
    """
    views = []
    for name, channel in config.channels.items():
        if channel_format(channel) != "slack" or not channel.can_thread():
            continue
        runs: dict[str, list[tuple[KeptnEvent, Post]]] = {}
        singles: list[Post] = []
        for number, preview in enumerate(previews, 1):
            event = preview.source.event
            for rendition in preview.renditions:
                for delivery in (d for d in rendition.deliveries if d.channel == name and not d.muted):
                    payload = _payload_dict(reply_payload(rendition.slack, delivery.broadcast and delivery.threaded))
                    post = Post(number, event.time, payload, delivery.broadcast and delivery.threaded)
                    if delivery.threaded:
                        runs.setdefault(event.keptn_context, []).append((event, post))
                    else:
                        singles.append(post)
        if not runs and not singles:
            continue
        shown = []
        for context, posts in runs.items():
            state = run_of(event for event, _ in posts)
            payload = _payload_dict(run_message_payload("slack", state, config.settings.bridge_url))
            title = run_message(state, config.settings.bridge_url).title
            edited = state != run_of([posts[0][0]])
            shown.append(RunView(context, title, payload, tuple(post for _, post in posts), edited))
        views.append(ChannelView(name, tuple(shown), tuple(singles)))
    return views


def _payload_dict(payload: Payload) -> dict[str, Any]:
    return payload if isinstance(payload, dict) else {"text": payload}


# -- the page ------------------------------------------------------------------------------------------------


def preview_page(previews: Sequence[EventPreview], config: Config, silences_note: str = "") -> str:
    """`silences_note`: what the page says of the store's silences (none to read, or how many are active)."""
    settings = config.settings
    templates_note = (
        f"built-in, overridden by {text(settings.templates_dir)} (TEMPLATES_DIR)"
        if settings.templates_dir
        else "built-in (set TEMPLATES_DIR to preview your own)"
    )
    posted = sum(1 for preview in previews if not preview.ignored)
    views = channel_views(previews, config)
    channels = "".join(_channel_section(number, view) for number, view in enumerate(views, 1))
    threaded = ", ".join(
        f'<a href="#channel-{number}">{text(view.channel)}</a>' for number, view in enumerate(views, 1)
    )
    threads_note = f"<p>Slack bot channels, one thread per Keptn run: {threaded}.</p>" if views else ""
    sections = "".join(_event_section(number, preview) for number, preview in enumerate(previews, 1))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>keptn-notifier preview: {len(previews)} event(s)</title>"
        f'<style>{STYLESHEET}{THREAD_STYLE}</style></head><body><main class="page">'
        '<header class="page-header"><h1>keptn-notifier preview</h1>'
        f"<p>{len(previews)} event(s): {posted} would be posted, {len(previews) - posted} ignored.</p>"
        f"<p>Config: {text(config.origin)}. Subscription: <code>{text(settings.subscription)}</code>.</p>"
        f"<p>Templates: {templates_note}.</p>{threads_note}"
        f"{f'<p>Silences: {text(silences_note)}.</p>' if silences_note else ''}</header>"
        f"{_index(previews)}{channels}{sections}</main></body></html>\n"
    )


def _channel_section(number: int, view: ChannelView) -> str:
    """The channel as Slack lists it (run messages, broadcast replies, messages of their own, in the order
    posted), each run message with its thread open beneath it."""
    posts: list[tuple[int, int, str]] = []
    for run in view.runs:
        posts.append((run.replies[0].number, 0, _run_post(run)))
        posts += [(reply.number, 1, _broadcast_post(reply, run)) for reply in run.replies if reply.broadcast]
    posts += [(single.number, 1, _single_post(single)) for single in view.singles]
    listed = "".join(html for _, _, html in sorted(posts, key=lambda post: post[:2]))
    runs = len(view.runs)
    return (
        f'<section class="channel-view" id="channel-{number}" data-channel="{attribute(view.channel)}">'
        f'<div class="event-head"><h2>Channel {text(view.channel)} as Slack shows it</h2>'
        f'<span class="event-where">{runs} run(s), one run message each</span></div>'
        "<p>A Slack bot channel threads each Keptn run: its run message (as the run stands after these events) "
        "with every notification of the run in its thread; a reply that needs a person is also shown in the "
        "channel.</p>"
        f'<div class="slack-pane">{listed}</div></section>'
    )


def _run_post(run: RunView) -> str:
    edited = '<span class="sk-edited">(edited)</span>' if run.edited else ""
    replies = "".join(
        f'<div class="sk-reply" data-event="{reply.number}" data-broadcast="{str(reply.broadcast).lower()}">'
        f"{_message(reply.payload, reply.time, _event_link(reply.number) + _also(reply))}</div>"
        for reply in run.replies
    )
    count = len(run.replies)
    return (
        f'<div class="sk-post sk-run-message" data-run="{attribute(run.context)}">'
        f"{_message(run.run_message, run.replies[0].time, edited)}"
        f'<div class="sk-replies">{count} {"reply" if count == 1 else "replies"}</div>'
        f'<div class="sk-thread" data-run="{attribute(run.context)}">{replies}</div></div>'
    )


def _broadcast_post(reply: Post, run: RunView) -> str:
    replied = f'<div class="sk-replied">replied to a thread: {text(run.title)}</div>'
    return (
        f'<div class="sk-post sk-broadcast" data-run="{attribute(run.context)}" data-event="{reply.number}">'
        f"{_message(reply.payload, reply.time, _event_link(reply.number), replied)}</div>"
    )


def _single_post(post: Post) -> str:
    message = _message(post.payload, post.time, _event_link(post.number))
    return f'<div class="sk-post sk-single" data-event="{post.number}">{message}</div>'


def _also(post: Post) -> str:
    return '<span class="sk-also">also sent to the channel</span>' if post.broadcast else ""


def _message(payload: dict[str, Any], time: str, meta: str, before: str = "") -> str:
    """One Slack message: avatar, name and time, then the payload as Slack draws it."""
    clock = _CLOCK.search(time)
    return (
        '<div class="sk-message"><div class="sk-avatar">K</div><div class="sk-content">'
        f'<div class="sk-meta"><span class="sk-name">keptn-notifier</span><span class="sk-app">APP</span>'
        f'<span class="sk-time">{text(clock.group(1)) if clock else ""}</span>{meta}</div>'
        f"{before}{slack_html(payload)}</div></div>"
    )


def _event_link(number: int) -> str:
    return f'<a class="sk-event" href="#event-{number}">event {number}</a>'


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
        f"via route <b>{text(delivery.route)}</b>, template <b>{text(rendition.template)}</b>"
        f"{_thread_note(delivery, preview.source.event)}{_muted_note(delivery)}</li>"
        for rendition in preview.renditions
        for delivery in rendition.deliveries
    )
    others = f'<div class="misses">Routes it misses:<ul>{misses}</ul></div>' if misses else ""
    return f'<div class="routing posted"><b>Posted to:</b><ul>{reached}</ul>{others}</div>'


def _muted_note(delivery: Delivery) -> str:
    return f' <span class="muted-note">({text(delivery.muted)}: nothing is posted)</span>' if delivery.muted else ""


def _thread_note(delivery: Delivery, event: KeptnEvent) -> str:
    if not delivery.threaded:
        return ""
    where = f", a reply in the thread of run {text(event.keptn_context[:8])}"
    return where + (", also sent to the channel" if delivery.broadcast else "")


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
