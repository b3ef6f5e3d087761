"""A fake Slack incoming webhook: answers 200 `ok` (or 503, or late), counts deliveries, times them.

    python -m bench.sink --ready-file PATH [--max-lifetime SECONDS]

Any POST outside `/_bench/` is a webhook delivery. The orchestrator drives it over HTTP:
`POST /_bench/mode` with `{"status": 503, "delay": 0.2}`, `POST /_bench/reset`, `GET /_bench/stats`.
It does as little as it can per request (one regex over the body) so that it is never the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.loop import run
from bench.stats import percentile
from bench.workload import MARKER_HEADER, parse_marker

CONTROL_PREFIX = "/_bench/"


class Sink:
    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.app = web.Application(client_max_size=4 * 1024 * 1024)
        self.app.router.add_post(CONTROL_PREFIX + "mode", self._mode)
        self.app.router.add_post(CONTROL_PREFIX + "reset", self._reset)
        self.app.router.add_get(CONTROL_PREFIX + "stats", self._stats)
        self.app.router.add_post("/{tail:.*}", self._deliver)
        self._clear()

    def _clear(self) -> None:
        self.answered = 0
        self.rejected = 0
        self.unmarked = 0
        self.duplicates = 0
        self.first_ns = 0
        self.last_ns = 0
        self._seen: set[tuple[str, int]] = set()
        self._latencies_ns: list[int] = []
        self._by_path: dict[str, int] = {}

    async def _deliver(self, request: web.Request) -> web.Response:
        body = await request.read()
        status, delay = self.status, self.delay
        if delay:
            await asyncio.sleep(delay)
        if status != 200:
            self.rejected += 1
            return web.Response(status=status, text="service_unavailable")
        now = time.monotonic_ns()
        self.answered += 1
        header = request.headers.get(MARKER_HEADER)
        found = parse_marker(header.encode() if header else body)
        if found is None:
            self.unmarked += 1
            return web.Response(text="ok")
        seq, sent_ns = found
        key = (request.path, seq)
        if key in self._seen:
            self.duplicates += 1
            return web.Response(text="ok")
        self._seen.add(key)
        self._by_path[request.path] = self._by_path.get(request.path, 0) + 1
        self._latencies_ns.append(now - sent_ns)
        self.first_ns = self.first_ns or now
        self.last_ns = now
        return web.Response(text="ok")

    async def _mode(self, request: web.Request) -> web.Response:
        wanted: dict[str, Any] = await request.json()
        self.status = int(wanted.get("status", self.status))
        self.delay = float(wanted.get("delay", self.delay))
        return web.json_response({"status": self.status, "delay": self.delay, "at_ns": time.monotonic_ns()})

    async def _reset(self, request: web.Request) -> web.Response:
        self._clear()
        self.status, self.delay = 200, 0.0
        return web.json_response({"reset": True})

    async def _stats(self, request: web.Request) -> web.Response:
        latencies_ms = [value / 1e6 for value in self._latencies_ns]
        return web.json_response(
            {
                "delivered": len(self._seen),
                "answered": self.answered,
                "duplicates": self.duplicates,
                "unmarked": self.unmarked,
                "rejected": self.rejected,
                "first_ns": self.first_ns,
                "last_ns": self.last_ns,
                "e2e_p50_ms": percentile(latencies_ms, 0.5),
                "e2e_p99_ms": percentile(latencies_ms, 0.99),
                "by_path": self._by_path,
            }
        )


async def serve(ready_file: Path, max_lifetime: float) -> None:
    sink = Sink()
    runner = web.AppRunner(sink.app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    ready_file.write_text(str(port))
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(max_lifetime)
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ready-file", type=Path, required=True, help="written with the port once listening")
    parser.add_argument("--max-lifetime", type=float, default=3600.0, help="exit after this many seconds")
    args = parser.parse_args()
    run(serve(args.ready_file, args.max_lifetime))


if __name__ == "__main__":
    main()
