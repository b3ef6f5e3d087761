"""The scenarios, in full and short sizes, and one measured run of one scenario against one target."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import POLL, http_json, python_module, spawn, stderr_tail
from bench.procstat import CpuSnapshot, memory_kib
from bench.targets import Target

KIB_PER_MIB = 1024
NS = 1e9


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    events: int
    channels: int = 1
    # Seconds the sink waits before answering each delivery.
    sink_delay: float = 0.0
    # Seconds the sink answers 503 from the first send on.
    outage: float = 0.0
    # Event counts at which the load generator samples the target's RSS.
    rss_marks: tuple[int, ...] = ()
    with_alertmanager: bool = False
    # Seconds to wait for the last delivery once sending has ended (or the outage is over).
    drain_timeout: float = 120.0
    # Service `settings:` that differ from the defaults in this scenario (reported with the results).
    service_settings: tuple[tuple[str, str], ...] = ()
    # An open-loop scenario: events at this fraction of the floor's burst delivered rate (measured in the same
    # run) for `seconds`, instead of `events` as fast as the target answers.
    rate_fraction: float = 0.0
    seconds: float = 0.0
    # Instead of the one service: this many replicas on NATS JetStream (intake and store), one target each.
    replicas: tuple[int, ...] = ()

    def events_at(self, rate: float | None) -> int:
        return max(1, round(rate * self.seconds)) if rate else self.events


FULL = (
    Scenario("burst", 20_000, with_alertmanager=True),
    Scenario("steady", 0, with_alertmanager=True, rate_fraction=0.25, seconds=20.0, drain_timeout=60.0),
    Scenario("fanout", 5_000, channels=5),
    Scenario("slow", 2_000, sink_delay=0.2),
    Scenario("outage", 10_000, outage=30.0, drain_timeout=300.0),
    Scenario("soak", 100_000, rss_marks=(10_000, 50_000, 100_000), drain_timeout=300.0),
    Scenario("nats", 5_000, replicas=(1, 2, 3)),
)
SHORT = (
    Scenario("burst", 400, with_alertmanager=True, drain_timeout=20.0),
    Scenario("steady", 0, with_alertmanager=True, rate_fraction=0.25, seconds=3.0, drain_timeout=20.0),
    Scenario("fanout", 200, channels=5, drain_timeout=20.0),
    Scenario("slow", 200, sink_delay=0.2, drain_timeout=20.0),
    # The default retry backoff (up to 30 s) would outlast the short mode; here outage checks only that nothing
    # is lost. The full run measures the drain with the default backoff.
    Scenario("outage", 300, outage=3.0, drain_timeout=20.0, service_settings=(("retry_max_backoff", "1s"),)),
    Scenario("soak", 1_000, rss_marks=(100, 500, 1_000), drain_timeout=20.0),
    Scenario("nats", 300, replicas=(1, 2, 3), drain_timeout=20.0),
)
NAMES = tuple(scenario.name for scenario in FULL)


def scenarios(short: bool, names: list[str] | None) -> list[Scenario]:
    chosen = SHORT if short else FULL
    return [scenario for scenario in chosen if not names or scenario.name in names]


@dataclass(frozen=True, slots=True)
class Harness:
    """What every run shares: the sink, where logs go, and the cores for the target and for the harness."""

    sink_url: str
    sink_pid: int
    log_dir: Path
    target_cores: frozenset[int]
    harness_cores: frozenset[int]
    concurrency: int

    def sink_urls(self, channels: int) -> list[str]:
        return [f"{self.sink_url}/slack/c{index}" for index in range(channels)]

    def sink(self, action: str, body: dict[str, Any] | None = None) -> Any:
        return http_json(f"{self.sink_url}/_bench/{action}", body)


def run_once(
    scenario: Scenario, target: Target, harness: Harness, workdir: Path, run_id: str, rate: float | None = None
) -> dict[str, Any]:
    """Start the target, send the load, wait for the deliveries, measure; always stops the target."""
    harness.sink("reset", {})
    harness.sink("mode", {"status": 503 if scenario.outage else 200, "delay": scenario.sink_delay})
    startup = target.start(harness.sink_urls(scenario.channels), workdir, harness.target_cores)
    nats_pid = target.nats_pid
    events = scenario.events_at(rate)
    try:
        before = CpuSnapshot.take(target.pids, harness.sink_pid, nats_pid)
        load, recovered_ns = _send(scenario, events, rate, target, harness, run_id)
        expected = load["accepted"] * scenario.channels
        # What the target still owed when the last event had been answered: its queue at the end of the load.
        backlog = expected - int(harness.sink("stats")["delivered"])
        sink = _wait_for_deliveries(harness, expected, scenario.drain_timeout)
        after = CpuSnapshot.take(target.pids, harness.sink_pid, nats_pid)
        # Of several processes (replicas), the largest: each is a pod of its own.
        peak_kib = max(load["target_hwm_kib"], *(memory_kib(pid, "VmHWM") for pid in target.pids))
        end_rss_kib = max(memory_kib(pid, "VmRSS") for pid in target.pids)
    finally:
        target.stop()
    cpu = after.target - before.target
    figures = _figures(scenario, events, load, sink, recovered_ns, startup, cpu, peak_kib, end_rss_kib)
    figures["backlog_at_end"] = backlog
    if rate:
        figures["offered_per_s"] = rate
        delivered_per_s = figures["delivered_per_s"]
        figures["shortfall"] = None if delivered_per_s is None else abs(1.0 - delivered_per_s / rate)
    # Cores busy from the first send to the last delivery: near 1 means that process set the pace.
    seconds = (max(load["last_ok_ns"], sink["last_ns"]) - load["first_send_ns"]) / NS
    figures["target_cpu_busy"] = cpu / seconds if seconds > 0 else None
    figures["sink_cpu_busy"] = (after.sink - before.sink) / seconds if seconds > 0 else None
    if nats_pid is not None:
        figures["nats_cpu_busy"] = (after.nats - before.nats) / seconds if seconds > 0 else None
    # Well above 0, other processes competed for the cores and the run's figures are not to be trusted.
    figures["other_cpu_busy"] = after.others_busy_since(before)
    return figures


def _send(
    scenario: Scenario, events: int, rate: float | None, target: Target, harness: Harness, run_id: str
) -> tuple[dict[str, Any], int | None]:
    """Run the load generator to the end; during an outage, end the outage on time while it sends."""
    deadline = max(60.0, events / 100, 2 * scenario.seconds) + scenario.outage
    command = python_module(
        "bench.loadgen",
        "--url", target.url,
        "--count", str(events),
        "--rate", str(rate or 0.0),
        "--concurrency", str(harness.concurrency),
        "--target-pid", str(target.pid),
        "--kind", target.kind,
        "--run-id", run_id,
        "--rss-at", ",".join(str(mark) for mark in scenario.rss_marks),
        "--deadline", str(deadline),
    )  # fmt: skip
    generator = spawn(command, harness.harness_cores, harness.log_dir, "loadgen", stdout=subprocess.PIPE)
    recovered_ns = None
    if scenario.outage:
        started = time.monotonic()
        while time.monotonic() - started < scenario.outage and generator.poll() is None:
            time.sleep(POLL)
        time.sleep(max(0.0, scenario.outage - (time.monotonic() - started)))
        recovered_ns = int(harness.sink("mode", {"status": 200})["at_ns"])
    try:
        output, _ = generator.communicate(timeout=deadline + 60)
    except subprocess.TimeoutExpired:
        generator.kill()
        generator.communicate()
        raise RuntimeError("the load generator overran its deadline") from None
    if generator.returncode != 0:
        tail = stderr_tail(harness.log_dir, "loadgen")
        raise RuntimeError(f"the load generator failed ({generator.returncode}):\n{tail}")
    return json.loads(output), recovered_ns


def _wait_for_deliveries(harness: Harness, expected: int, timeout: float) -> dict[str, Any]:
    """Poll the sink until `expected` distinct deliveries arrived or `timeout` passed, whichever first."""
    deadline = time.monotonic() + timeout
    while True:
        stats: dict[str, Any] = harness.sink("stats")
        if stats["delivered"] >= expected or time.monotonic() > deadline:
            return stats
        time.sleep(0.05)


def _per_second(count: int, start_ns: int, end_ns: int) -> float | None:
    if not count or end_ns <= start_ns:
        return None
    return count / ((end_ns - start_ns) / NS)


def _figures(
    scenario: Scenario,
    events: int,
    load: dict[str, Any],
    sink: dict[str, Any],
    recovered_ns: int | None,
    startup: float,
    cpu: float,
    peak_kib: int,
    end_rss_kib: int,
) -> dict[str, Any]:
    accepted = int(load["accepted"])
    delivered = int(sink["delivered"])
    figures: dict[str, Any] = {
        "accepted_per_s": _per_second(accepted, load["first_send_ns"], load["last_ok_ns"]),
        "delivered_per_s": _per_second(delivered, load["first_send_ns"], sink["last_ns"]),
        "ingest_p50_ms": load["ingest_p50_ms"],
        "ingest_p99_ms": load["ingest_p99_ms"],
        "e2e_p50_ms": sink["e2e_p50_ms"],
        "e2e_p99_ms": sink["e2e_p99_ms"],
        "peak_rss_mib": peak_kib / KIB_PER_MIB,
        "cpu_s_per_1k_events": cpu / accepted * 1000 if accepted else None,
        "cpu_s_per_1k_delivered": cpu / delivered * 1000 if delivered else None,
        "send_lag_p99_ms": load.get("send_lag_p99_ms"),
        "startup_s": startup,
        "sent": int(load["sent"]),
        "accepted": accepted,
        "ingest_errors": load["errors"],
        "expected": events * scenario.channels,
        "delivered": delivered,
        # Everything not delivered counts, including events the target refused or never got to answer.
        "lost": max(0, events * scenario.channels - delivered),
        "duplicates": int(sink["duplicates"]),
        "unmarked": int(sink["unmarked"]),
        "loadgen_cpu_busy": load["cpu_busy"],
    }
    if recovered_ns is not None:
        drained = delivered >= accepted * scenario.channels and sink["last_ns"] > 0
        figures["rejected_during_outage"] = int(sink["rejected"])
        figures["drain_s"] = max(0.0, (sink["last_ns"] - recovered_ns) / NS) if drained else None
    if scenario.rss_marks:
        at = {int(mark): kib / KIB_PER_MIB for mark, kib in load["rss_kib_at"].items()}
        figures["rss_mib_at"] = {str(mark): at.get(mark) for mark in scenario.rss_marks}
        first, last = at.get(scenario.rss_marks[0]), at.get(scenario.rss_marks[-1])
        figures["rss_growth_mib"] = last - first if first is not None and last is not None else None
        figures["end_rss_mib"] = end_rss_kib / KIB_PER_MIB
    return figures
