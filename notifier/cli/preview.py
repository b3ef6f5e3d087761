"""`keptn-notifier preview`: one offline HTML page of each event's Slack and Teams message."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Mapping
from pathlib import Path

from notifier.app.logs import setup_logging
from notifier.cli.common import (
    EXIT_OK,
    CliError,
    Commands,
    command,
    config_of,
    event_files,
    read_events,
    stored_silences,
    templates_of,
)
from notifier.clock import SystemClock
from notifier.redact import Redactor
from notifier.templating import load_samples_by_name


def add(commands: Commands) -> None:
    preview = command(
        commands, "preview", "write one offline HTML page showing each event's Slack and Teams message", run
    )
    preview.add_argument(
        "paths", nargs="*", metavar="EVENT.json|DIR", help="event files or folders of them (default: the samples)"
    )
    preview.add_argument(
        "--out",
        default="preview.html",
        help="the page to write (default: preview.html in the current directory, which in the container image is "
        "/tmp, not the state volume; - for stdout)",
    )


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from notifier.preview.page import Source, preview_events, preview_page

    config = config_of(args, env)
    templates = templates_of(config)
    sources: list[Source] = []
    for path in event_files(args.paths):
        events = read_events(path)
        sources.extend(
            Source(path.name + (f" #{index}" if len(events) > 1 else ""), event)
            for index, event in enumerate(events, 1)
        )
    if not args.paths:
        sources = [Source(f"{name}.json", event) for name, event in load_samples_by_name().items()]
    if not sources:
        raise CliError("no events to preview: the files hold empty lists")
    setup_logging("CRITICAL", Redactor(config.secrets()))  # a failing template shows on the page, with why
    silences, unread = stored_silences(config)
    now = SystemClock().time()
    active = [silence for silence in silences if silence.active(now)]
    previews = preview_events(sources, config, templates, active, now)
    page = preview_page(previews, config, unread or f"{len(active)} active in the service's store")
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
