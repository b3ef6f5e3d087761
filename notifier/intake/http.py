"""Events over HTTP, the way the Keptn distributor posts them: answer fast, answer 2xx for what is fine."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping

from aiohttp import web

from notifier.config.settings import Settings
from notifier.intake.cloudevents import UnsupportedMediaType, parse_request
from notifier.intake.protocol import EventSink, Summary
from notifier.intake.web import WebServer
from notifier.keptn.events import EventError
from notifier.metrics import Metrics
from notifier.store import StoreError

log = logging.getLogger("notifier.intake")


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


def accepted_response(summary: Summary) -> web.Response:
    """The 202, byte for byte as `web.json_response(summary.as_json(), status=202)` writes it, but from a format
    string instead of the JSON encoder: half the cost of the answer (1.2 against 2.6 us)."""
    body = f'{{"accepted": {summary.accepted}, "ignored": {summary.ignored}, "duplicates": {summary.duplicates}}}'
    return web.Response(text=body, status=202, content_type="application/json")


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is longer than `limit`."""
    content = request.content
    first = await content.readany()
    if content.at_eof():  # the usual request: its whole body came in one read, so no copy and no second read
        return first if len(first) <= limit else None
    body = bytearray(first)
    if len(body) > limit:
        return None
    while chunk := await content.readany():
        body.extend(chunk)
        if len(body) > limit:
            return None
    return bytes(body)


class HttpIntake:
    """`POST /` on the event server; the service opens and closes that server, this intake only mounts on it."""

    def __init__(self, settings: Settings, metrics: Metrics, server: WebServer) -> None:
        self._settings = settings
        self._metrics = metrics
        self._server = server
        self._sink: EventSink | None = None
        self._paused = False
        server.mount("events").add_post("/", self.receive)

    @property
    def port(self) -> int | None:
        return self._server.port

    async def start(self, sink: EventSink) -> None:
        self._sink = sink

    def readiness(self) -> str | None:
        return None  # the event server is up whenever the service runs

    def pause(self) -> None:
        self._paused = True

    async def stop(self) -> None:
        self._paused = True
        self._sink = None

    def _reject(self, reason: str, status: int, message: str, **headers: str) -> web.Response:
        self._metrics.events_rejected.labels(reason).inc()
        log.warning("rejected a request (%s): %s", status, message, extra={"reason": reason})
        return _error(status, message, **headers)

    async def receive(self, request: web.Request) -> web.Response:
        if self._paused or self._sink is None:
            return _error(
                503, "shutting down: send the event to another replica or retry later", **{"Retry-After": "5"}
            )
        token = self._settings.ingest_token
        if token:
            supplied = request.headers.get("Authorization", "")
            if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
                return self._reject("unauthorized", 401, "missing or wrong 'Authorization: Bearer' token")
        limit = self._settings.max_body_bytes
        too_large = f"the body is larger than the limit of {limit} bytes"
        if request.content_length is not None and request.content_length > limit:
            return self._reject("too_large", 413, too_large)
        body = await _read_body(request, limit)
        if body is None:
            return self._reject("too_large", 413, too_large)
        try:
            events = parse_request(
                request.headers.get("Content-Type", ""), request.headers, body, self._settings.max_batch_events
            )
            summary = await self._sink.submit(events, _encoded_size(request.headers, body))
        except UnsupportedMediaType as exc:
            return self._reject("unsupported_media_type", 415, str(exc))
        except EventError as exc:
            return self._reject("malformed", 400, str(exc))
        except StoreError as exc:
            log.error("could not store an event: %s", exc)
            return _error(503, "the service cannot store events right now; retry later", **{"Retry-After": "5"})
        return accepted_response(summary)


def _encoded_size(headers: Mapping[str, str], body: bytes) -> int:
    """The length of everything the events were made from: the body, and in binary mode the `ce-*` headers that
    carry the attributes (a small body says nothing of a long header), so that the bounds know what to cut."""
    return len(body) + sum(len(name) + len(value) for name, value in headers.items() if name[:3].lower() == "ce-")
