"""Run the real `keptn-notifier serve` as a subprocess, for crash, shutdown and memory tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        with self.stdout_path.open("a") as out, self.stderr_path.open("a") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "notifier", "serve", "--config", str(self.config_path)],
                stdout=out,
                stderr=err,
                env=self.env,
                text=True,
            )
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}: {self.stderr()}")
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=1) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"service not ready in {timeout}s: {self.stderr()}")

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
