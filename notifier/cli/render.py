"""`keptn-notifier render`: print exactly what would be posted for an event, and note when serve would not post it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping

from notifier.app.logs import setup_logging
from notifier.cli.common import (
    EXIT_OK,
    CliError,
    Commands,
    command,
    config_of,
    one_event,
    templates_of,
)
from notifier.config.load import Config
from notifier.delivery.mentions import RouteMentions
from notifier.keptn.events import KeptnEvent
from notifier.pipeline.explain import Router
from notifier.redact import Redactor
from notifier.render import RENDERERS, render
from notifier.render.mentions import NO_MENTIONS, Mentions


def add(commands: Commands) -> None:
    rendered = command(commands, "render", "print exactly what would be posted for an event", run)
    rendered.add_argument("event", help="a JSON file with one CloudEvent")
    target = rendered.add_mutually_exclusive_group()
    target.add_argument("--channel", help="render as this configured channel would")
    target.add_argument("--format", choices=sorted(RENDERERS), help="render for a platform (default: text)")
    rendered.add_argument("--template", help="use this template instead of the one chosen by event type")
    rendered.add_argument(
        "--builder-link",
        action="store_true",
        help="print a Slack Block Kit Builder link for the Slack payload instead of the payload",
    )


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = config_of(args, env)
    templates = templates_of(config)
    event = one_event(args.event)
    router = Router(config)
    fmt = args.format or "text"
    mentions = NO_MENTIONS
    if args.channel:
        if args.channel not in config.channels:
            raise CliError(f"unknown channel {args.channel!r}; channels: {', '.join(config.channels)}")
        from notifier.channels import channel_format

        fmt = channel_format(config.channels[args.channel])
        mentions = _channel_mentions(config, router, event, args.channel)
    if args.template and not templates.has(args.template):
        raise CliError(f"unknown template {args.template!r}; templates: {', '.join(templates.names())}")
    if args.builder_link and fmt != "slack":
        raise CliError(f"--builder-link needs the Slack format, not {fmt}: add --format slack or a Slack --channel")
    setup_logging("ERROR", Redactor(config.secrets()))
    payload = render(fmt, templates.render(event, args.template), mentions)
    if args.builder_link and isinstance(payload, dict):
        from notifier.preview.slack_builder import builder_link

        print(builder_link(payload))
        return EXIT_OK
    print(payload if isinstance(payload, str) else json.dumps(payload, indent=2, ensure_ascii=False))
    # On stderr, so that stdout stays exactly the payload: what `serve` would do with this event.
    for note in _serve_notes(config, router, event, args.channel):
        print(f"note: {note}", file=sys.stderr)
    return EXIT_OK


def _serve_notes(config: Config, router: Router, event: KeptnEvent, channel: str | None) -> list[str]:
    from notifier.pipeline.explain import why_ignored

    ignored = why_ignored(config.settings, router, event)
    if ignored is not None:
        topic = f" (PUBSUB_TOPIC={config.settings.subscription})" if ignored.unsubscribed else ""
        return [f"serve would ignore this event: {ignored.reason}{topic}"]
    reached = [target.channel for target in router.targets(event)]
    if channel is not None and channel not in reached:
        return [f"serve would not send this event to {channel}, only to {', '.join(reached)}"]
    return []


def _channel_mentions(config: Config, router: Router, event: KeptnEvent, channel: str) -> Mentions:
    """The mentions of the route that brings the event to `channel`, as `serve` adds them."""
    route = next((target.route for target in router.targets(event) if target.channel == channel), None)
    return NO_MENTIONS if route is None else RouteMentions(config.routes).resolve(route, event)
