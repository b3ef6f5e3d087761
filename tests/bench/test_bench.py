"""The benchmark: its short mode end to end as CI runs it, and the parts that decide what counts as delivered."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
from aiohttp.test_utils import TestClient, TestServer

from bench.floor import Floor
from bench.sink import Sink
from bench.workload import MARKER_HEADER, BodyFactory, fixed_body, marker, parse_marker

REPO = Path(__file__).resolve().parents[2]
FIGURES = {
    "accepted_per_s",
    "delivered_per_s",
    "ingest_p50_ms",
    "ingest_p99_ms",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "peak_rss_mib",
    "cpu_s_per_1k_events",
    "startup_s",
    "expected",
    "delivered",
    "lost",
    "rounds",
}


def test_short_mode_delivers_everything_and_reports_every_figure(tmp_path: Path) -> None:
    result_path = tmp_path / "bench.json"
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "--short", "--scenario", "burst", "--scenario", "fanout",
         "--scenario", "steady", "--json", str(result_path)],
        cwd=REPO, capture_output=True, text=True, timeout=170,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads(finished.stdout)
    assert report == json.loads(result_path.read_text())
    assert report["mode"] == "short" and report["nothing_lost"] is True and report["lost_detail"] == {}
    assert set(report["scenarios"]) == {"burst", "fanout", "steady"}
    for name, events, channels in (("burst", 400, 1), ("fanout", 200, 5)):
        scenario = report["scenarios"][name]
        for target in ("service", "floor"):
            figures = scenario["targets"][target]
            assert set(figures) >= FIGURES, f"{name}/{target} lacks {FIGURES - set(figures)}"
            assert figures["expected"] == figures["delivered"] == events * channels
            assert figures["lost"] == 0 and figures["duplicates"] == 0 and figures["unmarked"] == 0
        assert {"accepted_per_s", "delivered_per_s", "ingest_p99_ms", "peak_rss_mib"} <= set(scenario["ratios"])
    steady = report["scenarios"]["steady"]
    floor_burst = report["scenarios"]["burst"]["targets"]["floor"]["delivered_per_s"]
    # The open loop offers a quarter of the floor's burst rate of the same run, for 3 s in short mode.
    assert steady["offered_per_s"] == 0.25 * floor_burst
    assert steady["events"] == max(1, round(steady["offered_per_s"] * 3.0))
    for target in ("service", "floor"):
        figures = steady["targets"][target]
        assert figures["delivered"] == figures["expected"] == steady["events"], target
        assert figures["backlog_at_end"] is not None and figures["shortfall"] is not None
        assert figures["send_lag_p99_ms"] is not None and figures["cpu_s_per_1k_delivered"] > 0
    verdicts = {goal["target"]: goal["verdict"] for goal in report["goals"]}
    assert set(verdicts.values()) <= {"pass", "miss", "n/a"}
    assert "burst: accepted/s >= 0.7 x floor" in verdicts and "fan-out: delivered/s >= 0.5 x floor" in verdicts
    assert "steady: end-to-end p99 <= 50 ms" in verdicts
    assert "alertmanager" in report and report["commit"]
    assert "targets:" in finished.stderr, "the readable table goes to stderr"


def test_short_nats_scenario_runs_one_two_and_three_replicas_against_the_floor() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "--short", "--scenario", "nats"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads(finished.stdout)
    assert report["nothing_lost"] is True and set(report["scenarios"]) == {"nats"}
    nats = report["scenarios"]["nats"]
    assert nats["replicas"] == [1, 2, 3] and set(nats["targets"]) == {"nats-1", "nats-2", "nats-3", "floor"}
    for name, figures in nats["targets"].items():
        assert figures["expected"] == figures["delivered"] == 300, name
        assert figures["lost"] == 0 and figures["duplicates"] == 0 and figures["unmarked"] == 0, name
        assert figures["delivered_per_s"] > 0 and figures["e2e_p99_ms"] is not None, name
    for name in ("nats-1", "nats-2", "nats-3"):
        figures = nats["targets"][name]
        # a publish has no answer: no accepted rate, and the NATS server's CPU on its own
        assert figures["accepted_per_s"] is None and figures["nats_cpu_busy"] > 0, name
        assert figures["cpu_s_per_1k_delivered"] > 0, name
        assert nats["replica_ratios"][name]["delivered_per_s"] > 0, name
    assert nats["replica_ratios"]["nats-1"]["scaling"] == 1.0 and nats["replica_ratios"]["nats-3"]["scaling"] > 0
    assert "nats-3/floor" in finished.stderr and "scaling" in finished.stderr


def test_thread_cpu_harness_runs_the_service_and_reports_each_thread() -> None:
    done = subprocess.run(
        ["bash", str(REPO / "bench" / "thread_cpu.sh"), "0", "60", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert done.returncode == 0, done.stderr
    assert "accepted 60 at" in done.stdout
    assert "delivered 60, duplicates 0" in done.stdout
    # the event loop and the SQLite writer at least, each with a CPU figure, at each of the three points
    assert done.stdout.count("cpu_ms") >= 6


def test_event_body_is_a_realistic_evaluation_that_carries_its_marker() -> None:
    body = BodyFactory("keptn", "r7").body(42, 123456789)
    event = orjson.loads(body)
    assert 1300 <= len(body) <= 1700
    assert event["type"] == "sh.keptn.event.evaluation.finished" and event["id"] == "bench-r7-42"
    assert len(event["data"]["evaluation"]["indicatorResults"]) == 3
    assert event["shkeptncontext"] == marker(42, 123456789)
    assert parse_marker(body) == (42, 123456789)
    assert parse_marker(b"no marker here") is None
    assert len(fixed_body()) == 2048 and orjson.loads(fixed_body())["text"]


async def test_sink_counts_each_marked_delivery_once_and_rejects_during_an_outage() -> None:
    sink = Sink()
    async with TestClient(TestServer(sink.app)) as client:
        marked = orjson.dumps({"text": "footer: Keptn context " + marker(3, 1)})
        for _ in range(2):
            response = await client.post("/slack/c0", data=marked)
            assert response.status == 200 and await response.text() == "ok"
        await client.post("/slack/c1", data=b"{}", headers={MARKER_HEADER: marker(3, 1)})
        await client.post("/slack/c0", data=b"{}")
        await client.post("/_bench/mode", json={"status": 503})
        assert (await client.post("/slack/c0", data=orjson.dumps({"text": marker(4, 1)}))).status == 503
        stats = await (await client.get("/_bench/stats")).json()
        assert stats["delivered"] == 2 and stats["by_path"] == {"/slack/c0": 1, "/slack/c1": 1}
        assert stats["duplicates"] == 1 and stats["unmarked"] == 1 and stats["rejected"] == 1
        await client.post("/_bench/reset", json={})
        assert (await (await client.get("/_bench/stats")).json())["answered"] == 0


async def test_floor_forwards_each_event_to_every_sink_path_and_retries_a_503() -> None:
    sink = Sink()
    sink.status = 503
    async with TestServer(sink.app) as sink_server:
        urls = [str(sink_server.make_url(f"/slack/c{index}")) for index in range(2)]
        floor = Floor(urls, retry_delay=0.05, max_attempts=100)
        async with TestClient(TestServer(floor.app)) as client:
            workers = floor.workers(client.session)
            try:
                for seq in range(3):
                    response = await client.post("/", data=b"{}", headers={MARKER_HEADER: marker(seq, 1)})
                    assert response.status == 202
                await until(lambda: sink.rejected >= 2)
                sink.status = 200
                await until(lambda: sink.answered >= 6)
            finally:
                for worker in workers:
                    worker.cancel()
    assert sink.answered == 6 and sink.duplicates == 0 and sink.rejected >= 2


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)


def test_send_cost_harness_sends_every_variant_to_the_sink_and_reports_its_cpu(tmp_path: Path) -> None:
    result_path = tmp_path / "send_cost.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.send_cost", "--sends", "20", "--rounds", "2", "--json", str(result_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report == json.loads(result_path.read_text())
    assert set(report["us_per_send"]) == {"slack-sdk", "slack-webhook", "teams"}
    assert all(len(samples) == 2 for samples in report["samples_us"].values())
    assert all(value > 0 for value in report["us_per_send"].values())
    assert "us CPU per send" in done.stderr
