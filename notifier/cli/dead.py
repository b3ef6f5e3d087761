"""`keptn-notifier dead list|retry|purge`: the dead letters of the service's outbox."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

import orjson

from notifier.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    Commands,
    config_of,
    run_async,
)
from notifier.clock import SystemClock
from notifier.redact import Redactor
from notifier.units import parse_duration


def add(commands: Commands) -> None:
    dead = commands.add_parser("dead", help="list, retry or purge dead letters", description="dead letters")
    dead.set_defaults(run=run)
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


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from notifier.app.service import storage_of
    from notifier.store.protocol import StoreMissing

    config = config_of(args, env, state_dir=args.state_dir)
    redact = Redactor(config.secrets())
    clock = SystemClock()

    async def act() -> int:
        store = storage_of(config.settings, clock, must_exist=True).store
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
        return run_async(act())
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
