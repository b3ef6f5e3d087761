"""`notifier.cli.main` called in-process, as a user runs the command, with its output captured.

The environment the CLI reads is cleared first (the developer's shell must not change what a test sees), and
the root logger is put back afterwards: `main` points it at the captured stderr of one test.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from notifier.cli import main
from notifier.config import ENV_SETTINGS
from tests.test_config import NOT_SETTINGS

# Every variable the CLI reads: the settings', the config file and the channel types' (NOT_SETTINGS).
CONFIG_VARIABLES = frozenset({*ENV_SETTINGS, *NOT_SETTINGS})
REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "events"


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


class Cli:
    """Runs `keptn-notifier ARGS` in this process; `env` sets variables for this test only."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self._capsys = capsys
        self._monkeypatch = monkeypatch
        for variable in CONFIG_VARIABLES:
            monkeypatch.delenv(variable, raising=False)

    def env(self, **variables: str) -> None:
        for name, value in variables.items():
            self._monkeypatch.setenv(name, value)

    def __call__(self, *args: str | Path) -> Ran:
        self._capsys.readouterr()
        code = main([str(arg) for arg in args])
        out, err = self._capsys.readouterr()
        return Ran(code, out, err)

    async def in_thread(self, *args: str | Path) -> Ran:
        """For async tests whose loop serves a fake platform: `main` runs its own loop, so not on this one."""
        return await asyncio.to_thread(self, *args)


def in_process_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """The body of a test module's `cli` fixture: `yield from in_process_cli(capsys, monkeypatch)`."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield Cli(capsys, monkeypatch)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
