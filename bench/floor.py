"""The floor: the least any service could do with the same traffic, measured on the same machine in the same run.

    python -m bench.floor --ready-file PATH --sink URL [--sink URL ...]

It reads the POST, answers 202 and queues one forward per sink URL; workers post a fixed 2 KB body to the
sink through one shared session, as many at once per sink as the service's unpaced channel (32), and retry a
non-200 after a fixed delay. No parsing, no templating, no storage: the service's cost is the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.loop import run
from bench.workload import MARKER_HEADER, fixed_body

ACCEPTED = b'{"accepted":1,"ignored":0,"duplicates":0}'
# The service's unpaced channel sends this many at once; the floor does the same.
SENDS_PER_SINK = 32


class Floor:
    def __init__(self, sinks: list[str], retry_delay: float, max_attempts: int) -> None:
        self._sinks = sinks
        self._retry_delay = retry_delay
        self._max_attempts = max_attempts
        self._body = fixed_body()
        self._queues: list[asyncio.Queue[str]] = [asyncio.Queue() for _ in sinks]
        self.app = web.Application(client_max_size=1024 * 1024 + 1)
        self.app.router.add_post("/", self.receive)
        self.app.router.add_get("/ready", self.ready)

    async def receive(self, request: web.Request) -> web.Response:
        await request.read()
        bench_id = request.headers.get(MARKER_HEADER, "")
        for queue in self._queues:
            queue.put_nowait(bench_id)
        return web.Response(status=202, body=ACCEPTED, content_type="application/json")

    async def ready(self, request: web.Request) -> web.Response:
        return web.Response(text="ready")

    async def forward(self, session: aiohttp.ClientSession, url: str, queue: asyncio.Queue[str]) -> None:
        while True:
            bench_id = await queue.get()
            headers = {"Content-Type": "application/json", MARKER_HEADER: bench_id}
            for _ in range(self._max_attempts):
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.post(url, data=self._body, headers=headers) as response:
                        await response.read()
                        if response.status == 200:
                            break
                await asyncio.sleep(self._retry_delay)

    def workers(self, session: aiohttp.ClientSession) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self.forward(session, url, queue))
            for url, queue in zip(self._sinks, self._queues, strict=True)
            for _ in range(SENDS_PER_SINK)
        ]


async def serve(args: argparse.Namespace) -> None:
    floor = Floor(args.sink, args.retry_delay, args.max_attempts)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=100)) as session:
        workers = floor.workers(session)
        runner = web.AppRunner(floor.app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        args.ready_file.write_text(str(runner.addresses[0][1]))
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(args.max_lifetime)
        await runner.cleanup()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ready-file", type=Path, required=True, help="written with the port once listening")
    parser.add_argument("--sink", action="append", required=True, help="webhook URL to forward to (repeatable)")
    parser.add_argument("--retry-delay", type=float, default=0.5, help="seconds between tries of one forward")
    parser.add_argument("--max-attempts", type=int, default=600, help="tries per forward before giving up")
    parser.add_argument("--max-lifetime", type=float, default=3600.0, help="exit after this many seconds")
    run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
