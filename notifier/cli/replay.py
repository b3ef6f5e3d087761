"""`keptn-notifier replay`: events from files through the whole pipeline, without HTTP, to the console."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from notifier.app.logs import setup_logging
from notifier.channels.console import ConsoleConfig
from notifier.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    Commands,
    command,
    config_of,
    read_events,
    run_async,
    templates_of,
)
from notifier.config.load import Config
from notifier.keptn.events import KeptnEvent
from notifier.pipeline.explain import Router
from notifier.redact import Redactor
from notifier.templating import TemplateSet
from notifier.units import parse_duration


def add(commands: Commands) -> None:
    replay = command(commands, "replay", "run events from files through the whole pipeline, without HTTP", run)
    replay.add_argument("paths", nargs="+", metavar="FILE|DIR", help="JSON event files, or folders of them")
    replay.add_argument("--state-dir", help="outbox to use (default: a temporary one)")
    replay.add_argument("--timeout", default="60s", help="give up waiting for delivery after this long")
    replay.add_argument("--no-dedup", action="store_true", help="treat every file as a new event, even when ids repeat")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
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
        in_file = read_events(path)
        events += [(f"{path}" + (f" #{n}" if len(in_file) > 1 else ""), event) for n, event in enumerate(in_file, 1)]
    timeout = parse_duration(args.timeout)
    with tempfile.TemporaryDirectory(prefix="keptn-notifier-replay-") as scratch:
        config = _console_threads(config_of(args, env, state_dir=args.state_dir or scratch))
        setup_logging(
            config.settings.log_level if config.settings.log_level == "DEBUG" else "WARNING",
            Redactor(config.secrets()),
        )
        return run_async(_replay_events(config, templates_of(config), events, timeout, dedup=not args.no_dedup))


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
