"""The JetStream store's one connection to NATS, shared by the outbox and its ports, and the store's health.

Start-up fails at the first attempt, in words (an operator who gave the wrong NATS_URL hears it at once); once
connected the client reconnects forever on its own, and `health` says not ready meanwhile. Every NATS failure
reaches callers as a StoreError that says what could not be done.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from notifier.nats_connection import Unreachable, close, connect, describe
from notifier.store.jetstream.layout import Layout
from notifier.store.jetstream.startup import ensure_streams
from notifier.store.protocol import Health, StoreError

log = logging.getLogger("notifier.store")
# How long one request to NATS may take.
REQUEST_TIMEOUT = 5.0


@contextlib.contextmanager
def talking(what: str) -> Iterator[None]:
    """NATS failures as StoreErrors that say what could not be done (a lost server is no traceback)."""
    try:
        yield
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        raise StoreError(f"cannot {what}: NATS {describe(exc)}") from None


class Link:
    def __init__(self, url: str, layout: Layout, *, create: bool) -> None:
        """`create=False` for tools that read a service's outbox: nothing missing is created."""
        self.url = url
        self.layout = layout
        self._create = create
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._buckets: dict[str, KeyValue] = {}

    async def open(self) -> None:
        nc = Client()
        try:
            await connect(
                nc,
                self.url,
                reconnect=True,
                on_error=self._on_error,
                on_disconnected=self._on_disconnect,
                on_reconnected=self._on_reconnect,
            )
        except Unreachable as exc:
            raise StoreError(
                f"cannot reach NATS at {self.url} ({exc}); "
                "start NATS with JetStream, or set NATS_URL to it, or NOTIFIER_STORE=sqlite"
            ) from None
        self._nc = nc
        self._js = nc.jetstream(timeout=REQUEST_TIMEOUT)
        try:
            with talking("prepare the JetStream streams"):
                await ensure_streams(self._js, self.layout, create=self._create)
                for bucket in self.layout.buckets:
                    self._buckets[bucket] = await self._js.key_value(bucket)
        except StoreError:
            await self.close([])
            raise

    async def close(self, naks: list[tuple[str, bytes]]) -> None:
        """Send the last answers (`naks`: ack subject and nak, what the store gives back), then close."""
        nc, self._nc, self._js = self._nc, None, None
        self._buckets = {}
        if nc is None:
            return
        with contextlib.suppress(Exception):
            for reply, answer in naks:
                await nc.publish(reply, answer)
        await close(nc)

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS at %s: %s", self.url, exc or type(exc).__name__)

    async def _on_disconnect(self) -> None:
        if self._nc is None:
            return  # our own close
        log.warning("NATS at %s: disconnected, reconnecting", self.url)

    async def _on_reconnect(self) -> None:
        log.info("NATS at %s: reconnected", self.url)

    @property
    def is_open(self) -> bool:
        return self._nc is not None

    @property
    def is_connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def connected(self) -> tuple[Client, JetStreamContext]:
        if self._nc is None or self._js is None:
            raise StoreError("the store is closed")
        return self._nc, self._js

    def bucket(self, name: str) -> KeyValue:
        self.connected()
        return self._buckets[name]

    async def health(self) -> Health:
        if self._nc is None or self._js is None:
            return Health("the state store is closed")
        if not self._nc.is_connected:
            return Health(f"NATS at {self.url} is not connected (reconnecting)")
        try:
            with talking("read the outbox stream"):
                info = await self._js.stream_info(self.layout.outbox)
        except StoreError as exc:
            return Health(str(exc))
        # Its size is the service's share of NOTIFIER_NATS_MAX_BYTES, as start-up set it.
        limit = info.config.max_bytes or 0
        if limit > 0 and info.state.bytes >= limit * 0.99:
            return Health(f"the outbox stream {self.layout.outbox} is full")
        return Health()
