"""`keptn-notifier silence add|list|expire`: mute notifications on demand, on the store the service uses.

The CLI writes the store straight away; a running service reads it at most two seconds later (docs/silences.md).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Mapping

from notifier.cli.common import EXIT_FAILED, EXIT_OK, CliError, Commands, config_of, run_async
from notifier.clock import SystemClock
from notifier.config.load import Config
from notifier.noise.decide import format_span
from notifier.silences.listing import Listed, listing
from notifier.silences.reach import reach
from notifier.silences.silence import SilenceError, new_silence, parse_span, parse_when, timestamp
from notifier.store.protocol import Storage

MATCHER_HELP = (
    "name, operator and value: stage=production, service!=carts, project=~sock.*, type=sh.keptn.event.*.finished, "
    "label:team=payments, channel=prod-slack, route=prod (operators =, !=, =~, !~; regexes match the whole value)"
)


def add(commands: Commands) -> None:
    silence = commands.add_parser(
        "silence", help="add, list or expire silences (mute notifications on demand)", description="silences"
    )
    silence.set_defaults(run=run)
    actions = silence.add_subparsers(dest="silence_command", required=True, metavar="ACTION")
    adding = actions.add_parser("add", help="mute what the matchers match, for a while", description=MATCHER_HELP)
    adding.add_argument("matchers", nargs="*", metavar="MATCHER", help="every one must hold (see above)")
    until = adding.add_mutually_exclusive_group(required=True)
    until.add_argument("--for", dest="duration", help="how long: 90m, 2h, 1d")
    until.add_argument("--until", help="when it ends: 2026-11-20T18:00:00Z (RFC 3339) or a duration from now")
    adding.add_argument("--comment", required=True, help="why (shown in the list and in the summary)")
    adding.add_argument("--author", help="who adds it (default: the user running the command)")
    adding.add_argument("--start", help="when it starts, as --until (default: now)")
    adding.add_argument("--drop", action="store_true", help="no summary of what it muted when it ends")
    adding.add_argument("--all", action="store_true", help="without matchers: mute every notification")
    listing_ = actions.add_parser("list", help="show the silences that have not ended", description="silences")
    listing_.add_argument("--expired", action="store_true", help="show those that ended (kept 5 days) instead")
    listing_.add_argument("--json", action="store_true", help="one JSON object a line")
    expiring = actions.add_parser("expire", help="end silences now", description="end silences now")
    expiring.add_argument("ids", nargs="+", metavar="ID", help="ids from 'silence list'")
    for sub in (adding, listing_, expiring):
        sub.add_argument("--config", help="YAML config file")
        sub.add_argument("--state-dir", help="the service's state directory")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from notifier.app.service import storage_of
    from notifier.store.protocol import StoreMissing

    config = config_of(args, env, state_dir=args.state_dir)
    clock = SystemClock()

    async def act() -> int:
        storage = storage_of(config.settings, clock, must_exist=True)
        try:
            await storage.store.open()
        except StoreMissing as exc:
            if args.silence_command != "list":
                raise CliError(f"{exc}; a silence is kept in the outbox the service uses") from None
            if not args.json:
                print("no silences")
            print(f"({exc}, if it runs elsewhere)", file=sys.stderr)
            return EXIT_OK
        try:
            if args.silence_command == "add":
                return await _add(args, env, config, storage, clock.time())
            if args.silence_command == "list":
                return _print(await listing(storage.silences, clock.time()), args.expired, args.json)
            return await _expire(args.ids, storage, clock.time())
        finally:
            await storage.store.close()

    try:
        return run_async(act())
    except SilenceError as exc:
        raise CliError(str(exc)) from None


async def _add(args: argparse.Namespace, env: Mapping[str, str], config: Config, storage: Storage, now: float) -> int:
    starts = None if args.start is None else parse_when(args.start, now)
    ends = parse_when(args.until, now) if args.until else (starts or now) + parse_span(args.duration)
    silence = new_silence(
        args.matchers,
        ends=ends,
        created_by=args.author if args.author is not None else _user(env),
        comment=args.comment,
        now=now,
        max_duration=config.settings.silence_max_duration,
        starts=starts,
        drop=args.drop,
        everything=args.all,
    )
    await storage.silences.put(silence.record())
    print(silence.id)
    when = "from now" if silence.starts <= now else f"from {timestamp(silence.starts)}"
    summary = "no summary (--drop)" if silence.drop else "a summary of what it muted when it ends"
    print(f"mutes {when} until {timestamp(silence.ends)} ({format_span(silence.ends - silence.starts)}), {summary}")
    touched = reach(silence, config.routes, config.settings)
    print("can touch:" if touched.touches else "can touch nothing:")
    for line in touched.describe():
        print(f"  {line}")
    return EXIT_OK


def _print(listed: list[Listed], expired: bool, as_json: bool) -> int:
    shown = [one for one in listed if (one.state == "expired") == expired]
    if not shown and not as_json:
        print("no expired silences" if expired else "no silences (see --expired for those that ended)")
    for one in shown:
        silence = one.silence
        if as_json:
            print(json.dumps(one.as_json()))
            continue
        print(
            f"{silence.id}  {one.state:<7}  {timestamp(silence.starts)} to {timestamp(silence.ends)}  "
            f"muted {one.total}  by {silence.created_by}: {silence.comment}"
        )
        print(f"    {' '.join(silence.matchers) or '(no matchers: everything)'}")
    return EXIT_OK


async def _expire(ids: list[str], storage: Storage, now: float) -> int:
    unknown = []
    for one in dict.fromkeys(ids):
        ended = await storage.silences.expire(one, now)
        if ended is None:
            unknown.append(one)
        elif ended.ends < now:
            print(f"{one} had ended already, at {timestamp(ended.ends)}")
        else:
            print(f"expired {one}")
    if unknown:
        what = "a silence" if len(unknown) == 1 else "silences"
        print(f"not {what}: {', '.join(unknown)} (see 'keptn-notifier silence list')", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _user(env: Mapping[str, str]) -> str:
    """Who runs the command, for a silence's author."""
    named = env.get("USER") or env.get("LOGNAME")
    if named:
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container's uid without a name
        return "keptn-notifier CLI"
