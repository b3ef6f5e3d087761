"""The service's HTTP listeners: one aiohttp server per address, carrying whatever is mounted on it.

The HTTP intake mounts `POST /` and the admin endpoints mount `/health`, `/ready`, `/metrics`; on the same
address (the default) one server carries both, and a service without an HTTP intake still serves the admin.
"""

from __future__ import annotations

from aiohttp import web

from notifier.config.settings import Settings


class WebServer:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self._requested_port = port
        self._app = web.Application()
        self._runner: web.AppRunner | None = None
        self.serves: list[str] = []
        self.port: int | None = None  # the bound port once started (port 0 asks for any free one)

    def mount(self, what: str) -> web.UrlDispatcher:
        """The router to add `what`'s routes to (before `start`); a server that nobody mounts on never listens."""
        self.serves.append(what)
        return self._app.router

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self._requested_port, reuse_address=True).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def listeners(settings: Settings) -> tuple[WebServer, WebServer]:
    """The event server and the admin server: one object when the admin has no port of its own."""
    events = WebServer(settings.host, settings.port)
    own = settings.own_admin_address
    return (events, events) if own is None else (events, WebServer(*own))
