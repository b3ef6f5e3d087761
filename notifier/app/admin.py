"""Probes and metrics, whatever the intakes: on the admin port, or on the event port when no admin port is set."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from notifier.metrics import Metrics


class Admin:
    def __init__(self, metrics: Metrics, readiness: Callable[[], str | None]) -> None:
        """`readiness` returns None when ready, else why not."""
        self._metrics = metrics
        self._readiness = readiness

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/health", self.health)
        router.add_get("/ready", self.ready)
        router.add_get("/metrics", self.metrics)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(self, request: web.Request) -> web.Response:
        problem = self._readiness()
        if problem is None:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "reason": problem}, status=503)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._metrics.render(),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )
