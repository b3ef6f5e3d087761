"""What every command shares: its errors and exit codes, the config and templates it loads, the events it reads."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import orjson

from notifier.clock import SystemClock
from notifier.config.load import Config, load_config
from notifier.keptn.events import EventError, KeptnEvent, event_from_mapping
from notifier.silences.silence import Silence, SilenceError
from notifier.store.protocol import StoreError, StoreMissing
from notifier.templating import TemplateLimits, TemplateSet

T = TypeVar("T")

EXIT_OK = 0

EXIT_FAILED = 1

EXIT_USAGE = 2


class CliError(Exception):
    """Ends the command with a one-line message on stderr and exit code 2."""


def config_of(args: argparse.Namespace, env: Mapping[str, str], **overrides: object) -> Config:
    return load_config(getattr(args, "config", None), env, overrides=overrides)


def templates_of(config: Config) -> TemplateSet:
    return TemplateSet(config.settings.templates_dir, config.settings.bridge_url, TemplateLimits())


def stored_silences(config: Config) -> tuple[list[Silence], str]:
    """The silences in the service's store, for the tools that show what an event would do; and when none could be
    read, why, in words (said once)."""
    from notifier.app.service import storage_of

    async def read() -> list[Silence]:
        storage = storage_of(config.settings, SystemClock(), must_exist=True)
        await storage.store.open()
        try:
            records = await storage.silences.silences()
        finally:
            await storage.store.close()
        silences = []
        for record in records:
            try:
                silences.append(Silence.of(record))
            except SilenceError:
                continue  # a later release's matcher: the service says so
        return silences

    try:
        return run_async(read()), ""
    except StoreMissing as exc:
        return [], f"none: {exc}, if it runs elsewhere"
    except StoreError as exc:
        return [], f"unknown: {exc}"


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def read_events(path: Path) -> list[KeptnEvent]:
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


def one_event(path: str) -> KeptnEvent:
    events = read_events(Path(path))
    if len(events) != 1:
        raise CliError(f"{path} holds {len(events)} events; give a file with exactly one")
    return events[0]


def event_files(paths: Sequence[str]) -> list[Path]:
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


# The `add_subparsers()` of the top parser: each command module adds its parser to it. (Generic for the type
# checker only: the class takes no subscript at run time.)
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
# What a command runs: the parsed arguments and the environment the configuration is read from.
Run = Callable[[argparse.Namespace, Mapping[str, str]], int]


def command(commands: Commands, name: str, help_text: str, run: Run) -> argparse.ArgumentParser:
    """A command's parser, with the --config every command but `dead` takes, running `run`."""
    sub = commands.add_parser(name, help=help_text, description=help_text)
    sub.add_argument("--config", help="YAML config file (default: $NOTIFIER_CONFIG, else the environment)")
    sub.set_defaults(run=run)
    return sub
