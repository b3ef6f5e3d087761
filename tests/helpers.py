"""What many test modules share: events, the service in-process and as a subprocess, and the CLI.

- `keptn_event` (an event as JSON) and `running_service` (the real service in-process on 127.0.0.1, talked to
  over HTTP), with the channel and route snippets for its YAML config;
- `run_event` and `shipped_run`: the events of one Keptn run, built or from examples/runs;
- `ServiceProcess`: the real `keptn-notifier serve` as a subprocess, for crash, shutdown, memory and log tests;
- `run_cli`: the command line in-process (`notifier.cli.main`), and `run_cli_process`, the same as a real
  subprocess for the few smoke tests that need one (the interpreter, pipes, the console script); with
  `assert_usage_error`, `dead_letters`, `write_event` and `write_yaml` around them.

Fake Slack and Teams servers are in tests/fakes.py, validators in tests/payload_checks.py and
tests/html_checks.py, the headless browser driver in tests/chromium.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml

from bench.procs import free_port as free_port  # re-exported: the one port picker for tests
from notifier.app.reload import ConfigSource
from notifier.app.service import Service
from notifier.cli.main import main
from notifier.config.load import KNOWN_VARIABLES
from notifier.intake.protocol import IntakeSource
from notifier.keptn.events import KeptnEvent, event_from_mapping

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "notifier" / "samples"
SAMPLE = EXAMPLES / "evaluation-finished-fail.json"
# Where each message starts in the text the console channel prints.
MESSAGE_START = re.compile(r"^\[(SUCCESS|INFO|WARNING|FAILURE)\] ", re.MULTILINE)
# The line a threading console prints above a new run message (an edit of one says "run message, edited").
NEW_RUN_MESSAGE = "┏━ run message · run "
STRUCTURED = "application/cloudevents+json"
CONSOLE_SCRIPT = Path(sys.executable).with_name("keptn-notifier")
# Variables the CLI reads: cleared so that the developer's shell cannot change what a test sees.
CONFIG_VARIABLES = KNOWN_VARIABLES


# -- events and the in-process service --------------------------------------------------------------------


def keptn_event(
    event_id: str = "ev-1", type_: str = "sh.keptn.event.evaluation.finished", **data: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project": "sockshop",
        "stage": "production",
        "service": "carts",
        "result": "fail",
        "status": "succeeded",
    }
    body.update(data)
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "lighthouse-service",
        "type": type_,
        "shkeptncontext": "ctx-" + event_id,
        "time": "2026-11-20T10:00:00.000Z",
        "data": body,
    }


class RunningService:
    def __init__(self, service: Service, session: aiohttp.ClientSession, stdout: io.StringIO) -> None:
        self.service = service
        self.session = session
        self.stdout = stdout
        port = service.event_server.port  # None: nothing listens on the event port (url "")
        self.url = f"http://127.0.0.1:{port}" if port is not None else ""
        self.admin_url = f"http://127.0.0.1:{service.admin_port}"

    async def post(self, body: Any, content_type: str = STRUCTURED, **headers: str) -> aiohttp.ClientResponse:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        async with self.session.post(self.url + "/", data=raw, headers={"Content-Type": content_type, **headers}) as r:
            await r.read()
            return r

    async def post_json(self, body: Any, content_type: str = STRUCTURED, **headers: str) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        async with self.session.post(self.url + "/", data=raw, headers={"Content-Type": content_type, **headers}) as r:
            return r.status, await r.json(content_type=None)

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(self.admin_url + path) as response:
            return response.status, await response.text()

    async def metric(self, name: str, **labels: str) -> float:
        _, text = await self.get("/metrics")
        wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
        total = 0.0
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            metric_name, _, label_text = key.partition("{")
            if metric_name == name and all(part in label_text for part in wanted.split(",") if part):
                total += float(value)
        return total


@asynccontextmanager
async def running_service(
    tmp_path: Path,
    config: dict[str, Any],
    env: dict[str, str] | None = None,
    intakes: Sequence[IntakeSource] | None = None,
    **settings: Any,
) -> AsyncIterator[RunningService]:
    config = {
        **config,
        "settings": {
            "host": "127.0.0.1",
            "port": 0,
            "state_dir": str(tmp_path / "state"),
            "retry_initial_backoff": "0.05s",
            **config.get("settings", {}),
            **settings,
        },
    }
    path = tmp_path / "notifier.yaml"
    path.write_text(yaml.safe_dump(config))
    stdout = io.StringIO()
    source = ConfigSource(path, env or {})
    service = Service(source.load(), stdout=stdout, intakes=intakes, source=source)
    await service.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield RunningService(service, session, stdout)
    finally:
        await service.stop()


def slack_hook(base_url: str, name: str = "hook") -> dict[str, Any]:
    return {"type": "slack", "webhook_url": f"{base_url}/slack/{name}", "rate_limit": "off"}


def slack_bot(base_url: str, token: str, rate_limit: Any = "off") -> dict[str, Any]:
    """A Slack bot channel posting to `#prod` on the fake Slack Web API at `base_url`."""
    return {
        "type": "slack",
        "token": token,
        "channel": "#prod",
        "api_url": f"{base_url}/api/",
        "rate_limit": rate_limit,
    }


def teams_hook(base_url: str, name: str = "teams") -> dict[str, Any]:
    return {"type": "teams", "webhook_url": f"{base_url}/teams/{name}?sig=SIGSECRET0123456789", "rate_limit": "off"}


def every_route(*channels: str, **match: Any) -> list[dict[str, Any]]:
    return [{"name": "all", "match": {"types": ["sh.keptn.>", "dev.tekton.>"], **match}, "channels": list(channels)}]


# -- the events of one Keptn run (run-state tests) ---------------------------------------------------------

RUNS = REPO / "examples" / "runs"
RUN_CONTEXT = "3b6e5c0a-8f3e-4c9d-9a51-2d7f1e0b6c42"


def run_event(
    suffix: str,
    stage: str = "staging",
    time: str | None = "2026-11-20T09:40:00Z",
    context: str = RUN_CONTEXT,
    event_id: str = "",
    **data: Any,
) -> KeptnEvent:
    """`suffix` is the type after `sh.keptn.event.`; `stage` goes into data; keyword arguments too."""
    raw: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or f"{suffix}-{stage}-{time}",
        "source": "test",
        "type": f"sh.keptn.event.{suffix}",
        "shkeptncontext": context,
        "triggeredid": "",
        "data": {"project": "sockshop", "stage": stage, "service": "carts", **data},
    }
    if time is not None:
        raw["time"] = time
    return event_from_mapping(raw)


# The ten events of `keptn_run`: (type after `sh.keptn.event.`, source, data beyond the common fields).
_RUN_STEPS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("dev.delivery.triggered", "shipyard-controller", {}),
    ("deployment.triggered", "shipyard-controller", {}),
    ("deployment.started", "helm-service", {"status": "succeeded"}),
    ("deployment.finished", "helm-service", {"status": "succeeded", "result": "pass"}),
    ("test.triggered", "shipyard-controller", {}),
    ("test.started", "jmeter-service", {"status": "succeeded"}),
    ("test.finished", "jmeter-service", {"status": "succeeded", "result": "pass"}),
    ("evaluation.triggered", "shipyard-controller", {}),
    ("evaluation.started", "lighthouse-service", {"status": "succeeded"}),
    ("dev.delivery.finished", "shipyard-controller", {"status": "succeeded", "result": "pass"}),
)


def keptn_run(number: int, message: str = "step {step}") -> list[dict[str, Any]]:
    """The ten events of one Keptn delivery run in stage dev, as JSON, in the order they happen.

    Each has its own id and the run's shkeptncontext (`number` in it); `message` is formatted with `step`
    (0 to 9) into each event's data.message, so that a test can tell every notification apart.
    """
    context = f"{number:08d}-0000-4000-8000-{number:012d}"
    return [
        {
            "specversion": "1.0",
            "id": f"{context}-{step}",
            "source": source,
            "type": f"sh.keptn.event.{suffix}",
            "time": f"2026-11-20T09:{step:02d}:00Z",
            "shkeptncontext": context,
            "triggeredid": "",
            "shkeptnspecversion": "0.2.4",
            "data": {
                "project": "sockshop",
                "stage": "dev",
                "service": "carts",
                "message": message.format(step=step),
                **data,
            },
        }
        for step, (suffix, source, data) in enumerate(_RUN_STEPS)
    ]


def shipped_run(name: str) -> list[KeptnEvent]:
    """The events of an example run, in the order of their file names (the order they happened)."""
    files = sorted((RUNS / name).glob("*.json"))
    assert files, f"no events in {RUNS / name}"
    return [event_from_mapping(orjson.loads(path.read_bytes()), str(path)) for path in files]


# -- the service as a subprocess -------------------------------------------------------------------------


class ServiceProcess:
    def __init__(self, config: dict[str, Any], workdir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.config_path = workdir / "notifier.yaml"
        settings = {
            "host": "127.0.0.1",
            "port": self.port,
            "state_dir": str(workdir / "state"),
            **config.get("settings", {}),
        }
        self.config_path.write_text(yaml.safe_dump({**config, "settings": settings}))
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.stdout_path = workdir / "stdout.log"
        self.stderr_path = workdir / "stderr.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> float:
        """Start and wait for /ready; returns the seconds it took."""
        started = time.monotonic()
        self.spawn()
        self.wait_ready(timeout)
        return time.monotonic() - started

    def spawn(self) -> None:
        """Start, without waiting: several processes start side by side, then `wait_ready` for each."""
        with self.stdout_path.open("a") as out, self.stderr_path.open("a") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "notifier", "serve", "--config", str(self.config_path)],
                stdout=out,
                stderr=err,
                env=self.env,
                text=True,
            )

    def wait_ready(self, timeout: float = 20) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}: {self.stderr()}")
            if self.is_ready():
                return
            time.sleep(0.05)
        raise TimeoutError(f"service not ready in {timeout}s: {self.stderr()}")

    def is_ready(self) -> bool:
        """Whether /ready answers 200 now (a 503, or no answer, is False)."""
        try:
            with urllib.request.urlopen(self.url + "/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def stdout(self) -> str:
        return self.stdout_path.read_text() if self.stdout_path.exists() else ""

    def rss_kib(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def post_event(url: str, event: Mapping[str, Any], token: str | None = None) -> int:
    headers = {"Content-Type": STRUCTURED}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/", data=orjson.dumps(event), headers=headers) as response,
    ):
        await response.read()
        return response.status


def write_event(path: Path, event: Mapping[str, Any]) -> Path:
    path.write_bytes(orjson.dumps(event))
    return path


def write_yaml(path: Path, document: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False))
    return path


# -- the command line ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@dataclass(frozen=True)
class Printed:
    """What a console printed: the severity of each notification, in order, and how many run messages."""

    notifications: list[str]
    run_messages: int


def printed(stdout: str) -> Printed:
    """The message starts in a console's text, the run messages (under the line that announces one) apart.

    On a threading console (as `replay` makes it) every notification is a message and each run's first one
    also posts the run message; an edit of a run message is framed (`┃`), so it is neither.
    """
    notifications: list[str] = []
    run_messages = 0
    for above, line in itertools.pairwise(["", *stdout.splitlines()]):
        start = MESSAGE_START.match(line)
        if start and above.startswith(NEW_RUN_MESSAGE):
            run_messages += 1
        elif start:
            notifications.append(start.group(1))
    return Printed(notifications, run_messages)


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CONFIG_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


async def run_cli(
    *args: str | Path, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> Run:
    """`keptn-notifier ARGS` in this process, with its own stdout, stderr and environment (`cli_env(env)`).

    It runs in a thread, on its own event loop, so that the fakes on the test's loop keep answering. Not for
    `serve` that should start: only the main thread may install signal handlers (use ServiceProcess). `cwd`
    changes the working directory of the whole process while the command runs (tests use absolute paths).
    """
    argv = [str(arg) for arg in args]
    environ = cli_env(env)

    def call() -> Run:
        out, err = io.StringIO(), io.StringIO()
        workdir = contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext()
        with workdir, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv, environ)
            except SystemExit as exc:  # argparse: --help, --version and usage errors
                code = exc.code if isinstance(exc.code, int) else 1
        return Run(code, out.getvalue(), err.getvalue())

    try:
        return await asyncio.wait_for(asyncio.to_thread(call), timeout)
    except TimeoutError:
        raise AssertionError(f"keptn-notifier {' '.join(argv)} did not finish in {timeout}s") from None


async def run_cli_process(
    *args: str | Path, env: Mapping[str, str] | None = None, script: bool = False, timeout: float = 60
) -> Run:
    """Run `python -m notifier ARGS` (or the console script) without blocking the loop the fakes run on."""
    command = [str(CONSOLE_SCRIPT)] if script else [sys.executable, "-m", "notifier"]
    process = await asyncio.create_subprocess_exec(
        *command,
        *map(str, args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(env),
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"keptn-notifier {' '.join(map(str, args))} did not finish in {timeout}s") from None
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def assert_usage_error(run: Run, *expected: str) -> None:
    """Exit 2, one line `keptn-notifier: ...` on stderr naming what is wrong, nothing on stdout, no traceback."""
    assert run.code == 2, run
    assert "Traceback" not in run.stderr, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keptn-notifier: "), run
    for text in expected:
        assert text in lines[0], f"{text!r} not in the message\n{run}"
    assert run.stdout == "", run


async def dead_letters(state_dir: Path, config: Path | None = None) -> list[dict[str, Any]]:
    args: list[str | Path] = ["dead", "list", "--json", "--state-dir", state_dir]
    if config is not None:
        args += ["--config", config]
    run = await run_cli(*args)
    assert run.code == 0, run
    return [json.loads(line) for line in run.stdout.splitlines()]


# `notifier.cli.main` in this process with pytest's capsys: the environment the CLI reads is cleared first,
# and the root logger is put back afterwards. It answers a `Run`, as `run_cli` does.


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

    def __call__(self, *args: str | Path) -> Run:
        self._capsys.readouterr()
        code = main([str(arg) for arg in args])
        out, err = self._capsys.readouterr()
        return Run(code, out, err)

    async def in_thread(self, *args: str | Path) -> Run:
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
