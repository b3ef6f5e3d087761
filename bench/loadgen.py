"""The load generator: N events at a fixed concurrency, each stamped with its send time; prints one JSON line.

    python -m bench.loadgen --url URL --count N --concurrency C --target-pid PID [--kind keptn|alert] [--rate R]

Without `--rate`, a closed loop: C senders, each posting its next event as soon as the previous one is answered,
so the target's own speed sets the rate. With `--rate R`, an open loop: event i leaves at start + i/R whatever
the target answers (at most MAX_IN_FLIGHT unanswered at once), as a busy Keptn sends them, and how late the
generator itself was is reported. It also samples the target's memory from /proc as the count passes the
`--rss-at` marks, and reports its own CPU use so that a saturated generator can be told from a slow target.

With `--kind nats` the URL is a NATS server's and the events are published as Keptn publishes them: core NATS,
subject = the event's type, body = the event. A publish has no answer, so there is no ingest latency and no
accepted rate: every event flushed to the server counts as accepted, and delivery is what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import nats
import orjson

from bench.loop import run
from bench.procstat import memory_kib
from bench.stats import percentile
from bench.workload import MARKER_HEADER, BodyFactory, marker

CONTENT_TYPES = {"keptn": "application/cloudevents+json", "alert": "application/json", "nats": ""}
REQUEST_TIMEOUT = 30.0
# Unanswered requests the open loop allows before it waits (a target that stops answering cannot pile up sockets).
MAX_IN_FLIGHT = 512


@dataclass
class Load:
    url: str
    count: int
    target_pid: int
    factory: BodyFactory
    content_type: str
    deadline: float
    rss_marks: list[int]
    issued: int = 0
    completed: int = 0
    accepted: int = 0
    last_ok_ns: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ns: list[int] = field(default_factory=list)
    rss_kib_at: dict[int, int] = field(default_factory=dict)
    send_lag_ns: list[int] = field(default_factory=list)

    async def sender(self, session: aiohttp.ClientSession) -> None:
        while self.issued < self.count and time.monotonic() < self.deadline:
            seq = self.issued
            self.issued += 1
            await self.post(session, seq)

    async def paced(self, session: aiohttp.ClientSession, rate: float) -> None:
        """Open loop: event i is due at start + i/rate; sends never wait for answers, only for MAX_IN_FLIGHT."""
        start_ns = time.monotonic_ns()
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        in_flight: set[asyncio.Task[None]] = set()

        async def one(seq: int) -> None:
            try:
                await self.post(session, seq)
            finally:
                slots.release()

        while self.issued < self.count and time.monotonic() < self.deadline:
            seq = self.issued
            due_ns = start_ns + int(seq * 1e9 / rate)
            wait_ns = due_ns - time.monotonic_ns()
            if wait_ns > 0:
                await asyncio.sleep(wait_ns / 1e9)
            await slots.acquire()
            self.send_lag_ns.append(max(0, time.monotonic_ns() - due_ns))
            self.issued += 1
            task = asyncio.create_task(one(seq))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.gather(*in_flight)

    async def post(self, session: aiohttp.ClientSession, seq: int) -> None:
        sent_ns = time.monotonic_ns()
        headers = {"Content-Type": self.content_type, MARKER_HEADER: marker(seq, sent_ns)}
        try:
            async with session.post(self.url, data=self.factory.body(seq, sent_ns), headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.errors[type(exc).__name__] += 1
        else:
            if 200 <= status < 300:
                self.accepted += 1
                self.last_ok_ns = time.monotonic_ns()
                self.latencies_ns.append(self.last_ok_ns - sent_ns)
            else:
                self.errors[f"http_{status}"] += 1
        self.completed += 1
        while self.rss_marks and self.completed >= self.rss_marks[0]:
            self.rss_kib_at[self.rss_marks.pop(0)] = memory_kib(self.target_pid, "VmRSS")


async def publish(args: argparse.Namespace) -> dict[str, Any]:
    """`--kind nats`: publish every event (at `--rate`, or as fast as the client writes), then flush."""
    factory = BodyFactory("keptn", args.run_id)
    subject = orjson.loads(factory.body(0, 0))["type"]
    deadline = time.monotonic() + args.deadline
    lag_ns: list[int] = []
    connection = await nats.connect(args.url, connect_timeout=5, max_reconnect_attempts=3)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    first_send_ns = time.monotonic_ns()
    sent = 0
    try:
        while sent < args.count and time.monotonic() < deadline:
            if args.rate:
                due_ns = first_send_ns + int(sent * 1e9 / args.rate)
                if (wait_ns := due_ns - time.monotonic_ns()) > 0:
                    await asyncio.sleep(wait_ns / 1e9)
                lag_ns.append(max(0, time.monotonic_ns() - due_ns))
            await connection.publish(subject, factory.body(sent, time.monotonic_ns()))
            sent += 1
        await connection.flush(timeout=int(REQUEST_TIMEOUT))
    finally:
        await connection.close()
    end_ns = time.monotonic_ns()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "sent": sent,
        "accepted": sent,
        "errors": {},
        "first_send_ns": first_send_ns,
        "last_ok_ns": first_send_ns,  # no answers: accepted_per_s stays unmeasured
        "ingest_p50_ms": None,
        "ingest_p99_ms": None,
        "send_lag_p99_ms": percentile([value / 1e6 for value in lag_ns], 0.99),
        "rss_kib_at": {},
        "target_hwm_kib": memory_kib(args.target_pid, "VmHWM"),
        "cpu_s": cpu,
        "cpu_busy": cpu / max(1e-9, (end_ns - first_send_ns) / 1e9),
    }


async def generate(args: argparse.Namespace) -> dict[str, Any]:
    load = Load(
        url=args.url,
        count=args.count,
        target_pid=args.target_pid,
        factory=BodyFactory(args.kind, args.run_id),
        content_type=CONTENT_TYPES[args.kind],
        deadline=time.monotonic() + args.deadline,
        rss_marks=sorted(args.rss_at),
    )
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT if args.rate else args.concurrency)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    first_send_ns = time.monotonic_ns()
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        if args.rate:
            senders = [asyncio.create_task(load.paced(session, args.rate))]
        else:
            senders = [asyncio.create_task(load.sender(session)) for _ in range(args.concurrency)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*senders), args.deadline + REQUEST_TIMEOUT)
    end_ns = time.monotonic_ns()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    latencies_ms = [value / 1e6 for value in load.latencies_ns]
    return {
        "sent": load.completed,
        "accepted": load.accepted,
        "errors": dict(load.errors),
        "first_send_ns": first_send_ns,
        "last_ok_ns": load.last_ok_ns,
        "ingest_p50_ms": percentile(latencies_ms, 0.5),
        "ingest_p99_ms": percentile(latencies_ms, 0.99),
        "send_lag_p99_ms": percentile([value / 1e6 for value in load.send_lag_ns], 0.99),
        "rss_kib_at": {str(mark): kib for mark, kib in load.rss_kib_at.items()},
        "target_hwm_kib": memory_kib(args.target_pid, "VmHWM"),
        "cpu_s": cpu,
        "cpu_busy": cpu / max(1e-9, (end_ns - first_send_ns) / 1e9),
    }


def _marks(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--target-pid", type=int, required=True, help="process whose memory to sample")
    parser.add_argument("--kind", choices=sorted(CONTENT_TYPES), default="keptn")
    parser.add_argument("--run-id", default="run", help="makes event ids unique across runs")
    parser.add_argument("--rss-at", type=_marks, default=[], help="comma list of counts at which to sample VmRSS")
    parser.add_argument("--rate", type=float, default=0.0, help="events a second, open loop (default: closed loop)")
    parser.add_argument("--deadline", type=float, default=600.0, help="stop sending after this many seconds")
    args = parser.parse_args()
    result = run(publish(args) if args.kind == "nats" else generate(args))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
