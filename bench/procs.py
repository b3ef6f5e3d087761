"""Child processes of the benchmark: start them pinned, wait until they answer, stop them, talk to them."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.procstat import pin_to

POLL = 0.01


class StartError(RuntimeError):
    """A child did not come up; the text carries the tail of its stderr."""


# Listening ports come from below the kernel's ephemeral range (32768-60999 on Linux by default): a port the kernel
# handed out with bind(0) is free only until the child binds it, and meanwhile any outgoing connection (a NATS
# client, a test's HTTP client) may take it from the ephemeral range. Each pytest-xdist worker gets its own slice,
# so two workers never pick the same port either.
PORT_LOW = 10_000
PORT_SLICE = 1_000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def port_slice(worker: str) -> range:
    """The ports `free_port` picks from in the pytest-xdist worker named `worker` ("gw0", ...; "" outside)."""
    slices = max(1, (_ephemeral_low() - PORT_LOW) // PORT_SLICE)
    number = worker.removeprefix("gw")
    low = PORT_LOW + (int(number) % slices if number.isdigit() else 0) * PORT_SLICE
    return range(low, low + PORT_SLICE)


def free_port() -> int:
    """A loopback port nothing listens on now and no outgoing connection will take."""
    ports = port_slice(os.environ.get("PYTEST_XDIST_WORKER", ""))
    for _ in range(100):
        port = random.choice(ports)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {ports.start}-{ports.stop - 1} after 100 tries")


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def spawn(
    command: list[str],
    cores: frozenset[int],
    log_dir: Path,
    name: str,
    env: dict[str, str] | None = None,
    stdout: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start `command` pinned to `cores`; stderr (and stdout unless piped) go to files in `log_dir`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{name}.stderr").open("ab") as err, (log_dir / f"{name}.stdout").open("ab") as out:
        return subprocess.Popen(
            command,
            stdout=out if stdout is None else stdout,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            # preexec_fn runs in the child before exec; the orchestrator is single-threaded, so it is safe.
            preexec_fn=lambda: pin_to(cores),
        )


def stderr_tail(log_dir: Path, name: str, chars: int = 2000) -> str:
    path = log_dir / f"{name}.stderr"
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def wait_for_port_file(proc: subprocess.Popen[bytes], path: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"exited with {proc.returncode} before listening")
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(POLL)
    raise StartError(f"not listening after {timeout:g} s")


def wait_until_ready(proc: subprocess.Popen[bytes], url: str, started: float, timeout: float) -> float:
    """Poll `url` until it answers 200; returns the seconds since `started` (a monotonic time)."""
    deadline = started + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(POLL)
    raise StartError(f"not ready after {timeout:g} s")


def stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    """GET (or POST `body` as JSON) and decode the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())
