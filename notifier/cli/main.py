"""`keptn-notifier`: serve, and the tools to see what the service would do with an event; one module a command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from notifier import __version__
from notifier.app.logs import logging_restored
from notifier.cli import check, dead, preview, render, replay, routes, send_test, serve, silence
from notifier.cli.common import EXIT_FAILED, EXIT_USAGE, CliError
from notifier.config.source import ConfigError
from notifier.store import StoreError
from notifier.templating import TemplateError

# In the order `--help` lists them.
COMMANDS = (serve, render, routes, check, preview, send_test, replay, dead, silence)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keptn-notifier", description="Keptn events to Slack and Microsoft Teams messages."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add(commands)
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one command. `env` (default: the process environment) is where the configuration is read from.

    Safe to call many times in one process (tests do): the logging it sets up is undone when it returns, and
    each command runs its own event loop to completion without touching the loop policy.
    """
    args = _parser().parse_args(argv)
    environ = os.environ if env is None else env
    try:
        with logging_restored():
            code: int = args.run(args, environ)
            return code
    except (CliError, ConfigError, TemplateError, StoreError) as exc:
        print(f"keptn-notifier: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`render ... | head`): say nothing, and keep the interpreter's final flush quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
