"""`keptn-notifier routes`: which routes and channels an event reaches, why the others miss, and which active
silence in the service's store would mute it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from notifier.cli.common import (
    EXIT_OK,
    Commands,
    command,
    config_of,
    one_event,
    stored_silences,
    templates_of,
)
from notifier.clock import SystemClock
from notifier.delivery.mentions import RouteMentions
from notifier.noise.decide import describe
from notifier.pipeline.explain import Router
from notifier.silences.silence import muting, timestamp


def add(commands: Commands) -> None:
    routes = command(commands, "routes", "show which routes and channels an event reaches, and why others miss", run)
    routes.add_argument("event", help="a JSON file with one CloudEvent")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = config_of(args, env)
    event = one_event(args.event)
    templates = templates_of(config)
    rejection, verdicts = Router(config).explain(event)
    print(
        f"event {event.type} (project={event.project or '-'} stage={event.stage or '-'} "
        f"service={event.service or '-'} result={event.result or '-'} status={event.status or '-'})"
    )
    if rejection:
        print(f"not accepted: {rejection}")
    reached: list[str] = []
    route_of = {route.name: route for route in config.routes}
    own_template = {route.name: route.template for route in config.routes}
    mentions = RouteMentions(config.routes)
    silences, unread = stored_silences(config)
    now = SystemClock().time()
    for verdict in verdicts:
        if verdict.matched:
            template = own_template.get(verdict.route)
            suffix = f" (template {template})" if template else ""
            print(f"  route {verdict.route}: MATCH -> {', '.join(verdict.channels)}{suffix}")
            mentioned = mentions.explain(verdict.route, event)
            if mentioned:
                print(f"    mentions: {mentioned}")
            for line in describe(route_of[verdict.route], now):
                print(f"    noise: {line}")
            for channel in verdict.channels:
                if channel not in reached and (silence := muting(silences, event, channel, verdict.route, now)):
                    print(
                        f"    muted in {channel} by silence {silence.id} until {timestamp(silence.ends)}: "
                        f"{silence.comment} ({silence.created_by})"
                    )
            reached.extend(channel for channel in verdict.channels if channel not in reached)
        else:
            print(f"  route {verdict.route}: miss ({verdict.reason})")
    print(f"channels: {', '.join(reached) if reached else 'none'}")
    print(f"template: {templates.select(event.type)}")
    if unread:
        print(f"(silences: {unread})", file=sys.stderr)
    return EXIT_OK
