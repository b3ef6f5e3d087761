"""The systems under test: the real service, the floor, and Alertmanager when it is installed.

Each run starts a fresh process (fresh state directory, fresh peak-RSS counter) pinned to the target core,
and `start` returns the seconds from spawning it to its readiness answering 200.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import yaml

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
START_TIMEOUT = 30.0


class Target(Protocol):
    name: str
    # What the load generator sends: "keptn" events, or Alertmanager "alert"s.
    kind: str

    @property
    def pid(self) -> int: ...
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

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._port = 0
        # Extra `settings:` for this run; the defaults are what is measured unless a scenario says otherwise.
        self._settings = dict(settings or {})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/"

    def start(self, sink_urls: list[str], workdir: Path, cores: frozenset[int]) -> float:
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
        started = self._spawn(command, workdir, cores, {"LOG_LEVEL": "warning"})
        assert self._proc is not None
        try:
            return wait_until_ready(self._proc, self.url + "ready", started, START_TIMEOUT)
        except StartError as exc:
            raise self._failed(exc) from None


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
