"""`keptn-notifier`: serve, and the tools to see what the service would do with an event."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson

from notifier import __version__
from notifier.app.checks import missing_route_templates
from notifier.app.logs import logging_restored, setup_logging
from notifier.channels.console import ConsoleConfig
from notifier.clock import SystemClock
from notifier.config.load import Config, ConfigError, load_config, parse_duration
from notifier.keptn.events import EventError, KeptnEvent, event_from_mapping
from notifier.noise.decide import describe
from notifier.pipeline.routing import Router
from notifier.redact import Redactor
from notifier.render import RENDERERS, render
from notifier.render.mentions import NO_MENTIONS, Mentions, RouteMentions
from notifier.store import StoreError
from notifier.templating import TemplateError, TemplateLimits, TemplateSet, load_samples, load_samples_by_name

T = TypeVar("T")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """Ends the command with a one-line message on stderr and exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keptn-notifier", description="Keptn events to Slack and Microsoft Teams messages."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", help="YAML config file (default: $NOTIFIER_CONFIG, else the environment)")
        return sub

    serve = command("serve", "run the service")
    serve.add_argument("--host", help="bind address of the event port (default $NOTIFIER_HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="event port (default $PORT or 8080)")
    serve.add_argument("--admin-port", type=int, help="separate port for /health, /ready, /metrics")
    serve.add_argument("--state-dir", help="where the outbox lives (default $NOTIFIER_STATE_DIR or ./notifier-state)")

    rendered = command("render", "print exactly what would be posted for an event")
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

    routes = command("routes", "show which routes and channels an event reaches, and why others miss")
    routes.add_argument("event", help="a JSON file with one CloudEvent")

    command("check", "validate the config and render every template against the sample events")

    preview = command("preview", "write one offline HTML page showing each event's Slack and Teams message")
    preview.add_argument(
        "paths", nargs="*", metavar="EVENT.json|DIR", help="event files or folders of them (default: the samples)"
    )
    preview.add_argument(
        "--out",
        default="preview.html",
        help="the page to write (default: preview.html in the current directory, which in the container image is "
        "/tmp, not the state volume; - for stdout)",
    )

    send_test = command("send-test", "post a test message to a channel and show the platform's answer")
    send_test.add_argument(
        "channel", help="the channel's name (from the config, or slack-webhook/slack-bot/teams/console)"
    )

    replay = command("replay", "run events from files through the whole pipeline, without HTTP")
    replay.add_argument("paths", nargs="+", metavar="FILE|DIR", help="JSON event files, or folders of them")
    replay.add_argument("--state-dir", help="outbox to use (default: a temporary one)")
    replay.add_argument("--timeout", default="60s", help="give up waiting for delivery after this long")
    replay.add_argument("--no-dedup", action="store_true", help="treat every file as a new event, even when ids repeat")

    dead = commands.add_parser("dead", help="list, retry or purge dead letters", description="dead letters")
    dead_commands = dead.add_subparsers(dest="dead_command", required=True, metavar="ACTION")
    for name, help_text in (
        ("list", "show parked notifications"),
        ("retry", "queue them again"),
        ("purge", "delete old ones"),
    ):
        sub = dead_commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", help="YAML config file")
        sub.add_argument("--state-dir", help="the service's state directory")
        if name == "retry":
            sub.add_argument("ids", nargs="*", metavar="ID")
            sub.add_argument("--all", action="store_true", help="retry every dead letter")
        if name == "purge":
            sub.add_argument("--older-than", required=True, help="e.g. 7d, 12h")
        if name == "list":
            sub.add_argument("--json", action="store_true", help="one JSON object a line")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one command. `env` (default: the process environment) is where the configuration is read from.

    Safe to call many times in one process (tests do): the logging it sets up is undone when it returns, and
    each command runs its own event loop to completion without touching the loop policy.
    """
    args = _parser().parse_args(argv)
    environ = os.environ if env is None else env
    handlers: dict[str, Callable[[argparse.Namespace, Mapping[str, str]], int]] = {
        "serve": _serve,
        "render": _render,
        "routes": _routes,
        "check": _check,
        "preview": _preview,
        "send-test": _send_test,
        "replay": _replay,
        "dead": _dead,
    }
    try:
        with logging_restored():
            return handlers[args.command](args, environ)
    except (CliError, ConfigError, TemplateError, StoreError) as exc:
        print(f"keptn-notifier: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`render ... | head`): say nothing, and keep the interpreter's final flush quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def _config(args: argparse.Namespace, env: Mapping[str, str], **overrides: object) -> Config:
    return load_config(getattr(args, "config", None), env, overrides=overrides)


def _templates(config: Config) -> TemplateSet:
    return TemplateSet(config.settings.templates_dir, config.settings.bridge_url, TemplateLimits())


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _read_events(path: Path) -> list[KeptnEvent]:
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise CliError(f"{path} is not valid JSON: {exc}") from None
    items = document if isinstance(document, list) else [document]
    try:
        return [
            event_from_mapping(item, f"{path}" + (f" #{number}" if len(items) > 1 else ""))
            for number, item in enumerate(items, 1)
        ]
    except EventError as exc:
        raise CliError(str(exc)) from None


def _one_event(path: str) -> KeptnEvent:
    events = _read_events(Path(path))
    if len(events) != 1:
        raise CliError(f"{path} holds {len(events)} events; give a file with exactly one")
    return events[0]


# -- serve ---------------------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from notifier.app.service import serve

    config = _config(args, env, host=args.host, port=args.port, admin_port=args.admin_port, state_dir=args.state_dir)
    redact = Redactor(config.secrets())
    setup_logging(config.settings.log_level, redact)
    templates = _templates(config)
    try:
        _run(serve(config, templates))
    except OSError as exc:  # a port in use, an address that is not this host's
        raise CliError(redact(f"cannot start the service: {exc}")) from None
    return EXIT_OK


# -- render, routes, check -----------------------------------------------------------------------------------


def _render(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = _config(args, env)
    templates = _templates(config)
    event = _one_event(args.event)
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


def _routes(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = _config(args, env)
    event = _one_event(args.event)
    templates = _templates(config)
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
    for verdict in verdicts:
        if verdict.matched:
            template = own_template.get(verdict.route)
            suffix = f" (template {template})" if template else ""
            print(f"  route {verdict.route}: MATCH -> {', '.join(verdict.channels)}{suffix}")
            mentioned = mentions.explain(verdict.route, event)
            if mentioned:
                print(f"    mentions: {mentioned}")
            for line in describe(route_of[verdict.route], SystemClock().time()):
                print(f"    noise: {line}")
            reached.extend(channel for channel in verdict.channels if channel not in reached)
        else:
            print(f"  route {verdict.route}: miss ({verdict.reason})")
    print(f"channels: {', '.join(reached) if reached else 'none'}")
    print(f"template: {templates.select(event.type)}")
    return EXIT_OK


def _check(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    # Exit 2 for a config error (raised here, worded by main), 1 for template problems, listed one a line.
    config = _config(args, env)
    redact = Redactor(config.secrets())
    for warning in config.warnings:
        print(redact(f"warning: {warning}"))
    try:
        templates = _templates(config)
    except TemplateError as exc:
        print(redact(f"problem: {exc}"))
        print("check failed: 1 problem(s)")
        return EXIT_FAILED
    for warning in templates.warnings():
        print(redact(f"warning: {warning}"))
    problems = templates.check(load_samples()) + missing_route_templates(config, templates)
    if problems:
        for problem in problems:
            print(redact(f"problem: {problem}"))
        print(f"check failed: {len(problems)} problem(s)")
        return EXIT_FAILED
    print(
        f"ok: {len(config.channels)} channel(s), {len(config.routes)} route(s), "
        f"{len(templates.names())} template(s) rendered against the sample events ({config.origin})"
    )
    return EXIT_OK


def _preview(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from notifier.preview.page import Source, preview_events, preview_page

    config = _config(args, env)
    templates = _templates(config)
    sources: list[Source] = []
    for path in _event_files(args.paths):
        events = _read_events(path)
        sources.extend(
            Source(path.name + (f" #{index}" if len(events) > 1 else ""), event)
            for index, event in enumerate(events, 1)
        )
    if not args.paths:
        sources = [Source(f"{name}.json", event) for name, event in load_samples_by_name().items()]
    if not sources:
        raise CliError("no events to preview: the files hold empty lists")
    setup_logging("CRITICAL", Redactor(config.secrets()))  # a failing template shows on the page, with why
    previews = preview_events(sources, config, templates)
    page = preview_page(previews, config)
    if args.out == "-":
        sys.stdout.write(page)
        return EXIT_OK
    out = Path(args.out)
    if out.is_dir():
        raise CliError(f"cannot write {out}: it is a directory; give a file name, e.g. --out {out / 'preview.html'}")
    scratch = out.with_name(f".{out.name}.tmp")
    try:
        scratch.write_text(page, encoding="utf-8")
        scratch.replace(out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            scratch.unlink(missing_ok=True)
        raise CliError(f"cannot write {out}: {exc.strerror}; give a writable --out") from None
    ignored = sum(1 for preview in previews if preview.ignored)
    failed = sum(1 for preview in previews for one in preview.renditions if one.message.template == "fallback")
    failures = f", {failed} template failure(s) shown on the page" if failed else ""
    print(f"wrote {out}: {len(sources)} event(s), {ignored} of them ignored{failures}; open it in a browser")
    return EXIT_OK


def _event_files(paths: Sequence[str]) -> list[Path]:
    """The files named, and the `*.json` files of the folders named, in order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise CliError(f"{path} holds no .json files")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise CliError(f"{path} does not exist")
    return files


# -- send-test -----------------------------------------------------------------------------------------------


def _send_test(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = _config(args, env)
    if args.channel not in config.channels:
        raise CliError(f"unknown channel {args.channel!r}; channels: {', '.join(config.channels)}")
    redact = Redactor(config.secrets())
    setup_logging("WARNING", redact)
    from notifier.channels import build_channel, channel_format
    from notifier.channels.base import ChannelContext, Outcome
    from notifier.channels.http_post import shared_session
    from notifier.message import Fact, Message, Severity

    message = Message(
        title="keptn-notifier test message",
        severity=Severity.INFO,
        text="If you can read this, the channel works.",
        facts=(Fact("Channel", args.channel), Fact("Sent at", time.strftime("%Y-%m-%d %H:%M:%S %Z"))),
        footer=f"keptn-notifier {__version__}",
    )
    channel_config = config.channels[args.channel]

    async def send() -> Any:
        async with shared_session() as session:
            channel = build_channel(args.channel, channel_config, ChannelContext(session, sys.stdout))
            return await channel.send(render(channel_format(channel_config), message))

    result = _run(send())
    # send-test tries once: say what the service would do next, not the outcome's internal name.
    outcome = {
        Outcome.SENT: result.reason,
        Outcome.RETRY: f"{result.reason}, temporary: the service would try again later",
        Outcome.DEAD: f"{result.reason}, permanent: the service would not try again",
    }[result.outcome]
    verb = "sent" if result.outcome is Outcome.SENT else "failed"
    print(redact(f"{args.channel}: {verb} ({outcome}) {result.detail}".rstrip()))
    return EXIT_OK if result.outcome is Outcome.SENT else EXIT_FAILED


# -- replay --------------------------------------------------------------------------------------------------


def _replay(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    files: list[Path] = []
    for raw in args.paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(path.glob("*.json")))
        elif path.exists():
            files.append(path)
        else:
            raise CliError(f"{path} does not exist")
    # Each event with its file (and its place in a file of several), for the notes about it.
    events: list[tuple[str, KeptnEvent]] = []
    for path in files:
        in_file = _read_events(path)
        events += [(f"{path}" + (f" #{n}" if len(in_file) > 1 else ""), event) for n, event in enumerate(in_file, 1)]
    timeout = parse_duration(args.timeout)
    with tempfile.TemporaryDirectory(prefix="keptn-notifier-replay-") as scratch:
        config = _console_threads(_config(args, env, state_dir=args.state_dir or scratch))
        setup_logging(
            config.settings.log_level if config.settings.log_level == "DEBUG" else "WARNING",
            Redactor(config.secrets()),
        )
        return _run(_replay_events(config, _templates(config), events, timeout, dedup=not args.no_dedup))


def _console_threads(config: Config) -> Config:
    """Replay shows each run as a Slack bot channel would, on every console that does not say `threads: false`."""
    channels = {
        name: channel.model_copy(update={"threads": True})
        if isinstance(channel, ConsoleConfig) and "threads" not in channel.model_fields_set
        else channel
        for name, channel in config.channels.items()
    }
    return dataclasses.replace(config, channels=channels)


async def _replay_events(
    config: Config, templates: TemplateSet, events: list[tuple[str, KeptnEvent]], wait_seconds: float, dedup: bool
) -> int:
    from notifier.app.service import Service
    from notifier.pipeline.explain import why_ignored

    service = Service(config, templates, intakes=[], admin=False)
    router = Router(config)
    await service.start()
    notes: list[str] = []
    first_seen: dict[str, str] = {}
    counts = {"accepted": 0, "ignored": 0, "duplicates": 0}
    unsubscribed = False
    # Unique to this run, so that --no-dedup also replays what an earlier run left in --state-dir.
    run_id = uuid.uuid4().hex
    try:
        for number, (label, event) in enumerate(events):
            if not dedup:
                # Only the identity the outbox deduplicates by changes: the stored event, which templates see, does not.
                event = dataclasses.replace(event, id=f"{event.id} (replay {run_id}:{number})")
            # One at a time, so that each duplicate is known by its file.
            summary = await service.submit([event])
            counts["accepted"] += summary.accepted
            counts["ignored"] += summary.ignored
            counts["duplicates"] += summary.duplicates
            if summary.ignored:
                ignored = why_ignored(config.settings, router, event)
                unsubscribed = unsubscribed or bool(ignored and ignored.unsubscribed)
                notes.append(f"ignored {label} ({event.type}): {ignored.reason if ignored else 'no route matches'}")
            elif summary.duplicates:
                earlier = first_seen.get(event.dedup_key)
                outbox = f"already in the outbox in {config.settings.state_dir}"
                what = f"the same source and id as {earlier}" if earlier else outbox
                notes.append(f"duplicate {label} ({event.type}): {what}; --no-dedup replays every file as new")
            first_seen.setdefault(event.dedup_key, label)
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            stats = await service.store.stats()
            if not any(item.pending for item in stats.values()):
                break
            await asyncio.sleep(0.05)
        stats = await service.store.stats()
        dead = await service.store.dead_letters()
    finally:
        await service.stop()
    pending = sum(item.pending for item in stats.values())
    for note in notes:
        print(note, file=sys.stderr)
    print(
        f"replayed {len(events)} event(s): {counts['accepted']} accepted, {counts['ignored']} ignored, "
        f"{counts['duplicates']} duplicate(s); {len(dead)} dead, {pending} still pending",
        file=sys.stderr,
    )
    if unsubscribed:
        print(
            f"PUBSUB_TOPIC is {config.settings.subscription}; to replay every event, set PUBSUB_TOPIC='>' "
            "(or 'sh.keptn.>' for Keptn's only)",
            file=sys.stderr,
        )
    return EXIT_OK if not dead and not pending else EXIT_FAILED


# -- dead letters --------------------------------------------------------------------------------------------


def _dead(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from notifier.store.factory import make_store
    from notifier.store.protocol import StoreMissing

    config = _config(args, env, state_dir=args.state_dir)
    redact = Redactor(config.secrets())
    clock = SystemClock()

    async def act() -> int:
        store = make_store(config.settings, clock, must_exist=True)
        try:
            await store.open()
        except StoreMissing as exc:
            if args.dead_command != "list":
                raise CliError(str(exc)) from None
            # Nothing has run with this state directory yet, so nothing can have died.
            if not args.json:
                print("no dead letters")
            print(f"({exc}, if it runs elsewhere)", file=sys.stderr)
            return EXIT_OK
        try:
            if args.dead_command == "list":
                return _print_dead(await store.dead_letters(), redact, args.json, clock.time())
            if args.dead_command == "retry":
                if not args.all and not args.ids:
                    raise CliError("name the dead letters to retry (IDs from 'dead list'), or give --all")
                dead = {letter.id for letter in await store.dead_letters()}
                # Ids are opaque: named back in the order given, once each.
                given = list(dict.fromkeys(args.ids))
                unknown = [] if args.all else [one for one in given if one not in dead]
                wanted = None if args.all else [one for one in given if one in dead]
                count = await store.retry_dead(wanted) if wanted != [] else 0
                print(f"queued {count} notification(s) again")
                if unknown:
                    what = "a dead letter" if len(unknown) == 1 else "dead letters"
                    ids = ", ".join(map(str, unknown))
                    print(f"not {what}: {ids} (see 'keptn-notifier dead list')", file=sys.stderr)
                    return EXIT_FAILED
                return EXIT_OK
            older = parse_duration(args.older_than)
            count = await store.purge_dead(older)
            print(f"purged {count} dead letter(s) older than {args.older_than}")
            return EXIT_OK
        finally:
            await store.close()

    try:
        return _run(act())
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _print_dead(letters: list[Any], redact: Redactor, as_json: bool, now: float) -> int:
    if not letters and not as_json:
        print("no dead letters")
    for letter in letters:
        try:
            data = orjson.loads(letter.body).get("data") or {}
        except (orjson.JSONDecodeError, AttributeError):
            data = {}
        where = "/".join(str(data.get(key) or "-") for key in ("project", "stage", "service"))
        age = _age(now - letter.died)
        if as_json:
            print(
                redact(
                    json.dumps(
                        {
                            "id": letter.id,
                            "channel": letter.channel,
                            "route": letter.route,
                            "type": letter.event_type,
                            "where": where,
                            "reason": letter.reason,
                            "attempts": letter.attempts,
                            "age_seconds": round(now - letter.died),
                        }
                    )
                )
            )
        else:
            print(
                redact(
                    f"{letter.id:>6}  {letter.channel:<16} {letter.event_type:<45} {where:<40} {age:>6}  "
                    f"{letter.reason}"
                )
            )
    return EXIT_OK


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
