"""Events over HTTP, the way the Keptn distributor posts them: answer fast, answer 2xx for what is fine."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from aiohttp import web

from notifier.config import Settings
from notifier.events import EventError, UnsupportedMediaType, parse_request
from notifier.intake import EventSink
from notifier.metrics import Metrics
from notifier.store import StoreError

log = logging.getLogger("notifier.intake")


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


class HttpIntake:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        extra_routes: Callable[[web.Application], None] | None,
    ):
        self._settings = settings
        self._metrics = metrics
        self._extra_routes = extra_routes
        self._sink: EventSink | None = None
        self._paused = False
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def build_app(self, sink: EventSink) -> web.Application:
        self._sink = sink
        # aiohttp's own limit sits above ours so that our handler, not aiohttp, words the 413.
        app = web.Application(client_max_size=self._settings.max_body_bytes + 1)
        app.router.add_post("/", self.receive)
        if self._extra_routes is not None:
            self._extra_routes(app)
        return app

    async def start(self, sink: EventSink) -> None:
        self._runner = web.AppRunner(self.build_app(sink), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.host, self._settings.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def pause(self) -> None:
        self._paused = True

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _reject(self, reason: str, status: int, message: str, **headers: str) -> web.Response:
        self._metrics.events_rejected.labels(reason).inc()
        log.warning("rejected a request (%s): %s", status, message, extra={"reason": reason})
        return _error(status, message, **headers)

    async def receive(self, request: web.Request) -> web.Response:
        if self._paused:
            return _error(
                503, "shutting down: send the event to another replica or retry later", **{"Retry-After": "5"}
            )
        token = self._settings.ingest_token
        if token:
            supplied = request.headers.get("Authorization", "")
            if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
                return self._reject("unauthorized", 401, "missing or wrong 'Authorization: Bearer' token")
        limit = self._settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return self._reject("too_large", 413, f"the body is larger than the limit of {limit} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reject("too_large", 413, f"the body is larger than the limit of {limit} bytes")
        if len(body) > limit:
            return self._reject("too_large", 413, f"the body is larger than the limit of {limit} bytes")
        assert self._sink is not None
        try:
            events = parse_request(
                request.headers.get("Content-Type", ""), request.headers, body, self._settings.max_batch_events
            )
            summary = await self._sink.submit(events, len(body))
        except UnsupportedMediaType as exc:
            return self._reject("unsupported_media_type", 415, str(exc))
        except EventError as exc:
            return self._reject("malformed", 400, str(exc))
        except StoreError as exc:
            log.error("could not store an event: %s", exc)
            return _error(503, "the service cannot store events right now; retry later", **{"Retry-After": "5"})
        return web.json_response(summary.as_json(), status=202)
