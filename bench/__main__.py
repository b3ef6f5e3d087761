"""`python -m bench [--short] [--scenario NAME]... [--rounds N] [--json FILE]`

Prints the readable table on stderr and one JSON object on stdout; exits 1 when any notification the service
or the floor should have delivered did not arrive (speed targets are only reported, never fatal).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.procs import StartError, python_module, spawn, stop, wait_for_port_file
from bench.procstat import core_split, cpu_seconds, machine_busy_seconds
from bench.report import ALERTMANAGER, FLOOR, goals, ratios, replica_ratios, summarise, table
from bench.scenarios import NAMES, Harness, Scenario, run_once, scenarios
from bench.stats import median
from bench.targets import AlertmanagerTarget, FloorTarget, NatsReplicasTarget, ServiceTarget, Target

REPO = Path(__file__).resolve().parent.parent
EXIT_OK, EXIT_LOST, EXIT_BROKEN = 0, 1, 2
# Cores other processes may use before the benchmark warns that its figures are not comparable.
QUIET = 0.1
# Events of the floor burst that sets an open-loop scenario's rate when the burst scenario is not run.
CALIBRATION_EVENTS = {False: 10_000, True: 400}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark keptn-notifier against a bare aiohttp floor, on loopback; see docs/performance.md.",
    )
    parser.add_argument("--short", action="store_true", help="a few hundred events per scenario, one round (CI)")
    parser.add_argument("--scenario", action="append", choices=NAMES, help="run only this scenario (repeatable)")
    parser.add_argument("--rounds", type=_positive, help="service/floor rotations per scenario (default 3, short 1)")
    parser.add_argument("--concurrency", type=_positive, default=16, help="requests the load generator keeps in flight")
    parser.add_argument("--json", type=Path, help="also write the JSON result to this file")
    return parser


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} (with uncommitted changes)" if dirty else head


def _others_busy(seconds: float = 1.0) -> float:
    """Cores other processes keep busy right now: the benchmark wants a quiet machine."""
    before = machine_busy_seconds() - cpu_seconds(os.getpid())
    time.sleep(seconds)
    return max(0.0, machine_busy_seconds() - cpu_seconds(os.getpid()) - before) / seconds


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _targets(scenario: Scenario, alertmanager: bool, harness: Harness) -> list[Callable[[], Target]]:
    if scenario.replicas:
        # The floor takes the same events over HTTP: the least any service could do with them.
        replicas = [functools.partial(NatsReplicasTarget, count, harness.harness_cores) for count in scenario.replicas]
        return [*replicas, FloorTarget]
    chosen: list[Callable[[], Target]] = [lambda: ServiceTarget(dict(scenario.service_settings)), FloorTarget]
    if scenario.with_alertmanager and alertmanager:
        chosen.append(AlertmanagerTarget)
    return chosen


def _run_scenario(
    scenario: Scenario, rounds: int, harness: Harness, root: Path, alertmanager: bool, rate: float | None = None
) -> dict[str, list[dict[str, Any]]]:
    """A B A B ...: the targets take turns, so drift on the machine hits each of them alike."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for round_index in range(rounds):
        for make in _targets(scenario, alertmanager, harness):
            target = make()
            workdir = root / f"{scenario.name}-{target.name}-{round_index}"
            workdir.mkdir(parents=True)
            figures = run_once(scenario, target, harness, workdir, f"{scenario.name}{round_index}", rate)
            runs.setdefault(target.name, []).append(figures)
            _say(
                f"{scenario.name} round {round_index + 1}/{rounds} {target.name}: "
                f"accepted/s {figures['accepted_per_s'] or 0:.0f}, delivered/s {figures['delivered_per_s'] or 0:.0f}, "
                f"delivered {figures['delivered']}/{figures['expected']}"
            )
            shutil.rmtree(workdir / "state", ignore_errors=True)
            shutil.rmtree(workdir / "alertmanager-data", ignore_errors=True)
            shutil.rmtree(workdir / "nats", ignore_errors=True)
    return runs


def _floor_burst_rate(
    measured: dict[str, dict[str, list[dict[str, Any]]]], short: bool, harness: Harness, root: Path
) -> float:
    """The floor's burst delivered/s of this run; measured on its own when the burst scenario was not run."""
    if "burst" in measured:
        found = median(run["delivered_per_s"] for run in measured["burst"][FLOOR])
        if found:
            return found
    calibration = Scenario("calibrate", CALIBRATION_EVENTS[short], drain_timeout=60.0)
    workdir = root / "calibrate"
    workdir.mkdir(parents=True)
    figures = run_once(calibration, FloorTarget(), harness, workdir, "calibrate")
    if not figures["delivered_per_s"]:
        raise RuntimeError("the floor delivered nothing in the calibration burst")
    rate: float = figures["delivered_per_s"]
    _say(f"calibration: floor burst delivered/s {rate:.0f}")
    return rate


def _report(
    args: argparse.Namespace,
    rounds: int,
    chosen: Sequence[Scenario],
    measured: dict[str, dict[str, list[dict[str, Any]]]],
    cores: tuple[frozenset[int], frozenset[int]],
    alertmanager: bool,
    busy_before: float,
    commit_before: str,
) -> dict[str, Any]:
    by_scenario: dict[str, Any] = {}
    lost_detail: dict[str, dict[str, int]] = {}
    for scenario in chosen:
        targets = {name: summarise(runs) for name, runs in measured[scenario.name].items()}
        floor_runs = measured[scenario.name][FLOOR]
        by_scenario[scenario.name] = {
            "events": floor_runs[0]["expected"] // scenario.channels,
            "offered_per_s": floor_runs[0].get("offered_per_s"),
            "channels": scenario.channels,
            "sink_delay_s": scenario.sink_delay,
            "outage_s": scenario.outage,
            "service_settings": dict(scenario.service_settings),
            "targets": targets,
            "ratios": ratios(targets),
            "ratios_to_alertmanager": ratios(targets, ALERTMANAGER),
        }
        if scenario.replicas:
            by_scenario[scenario.name]["replicas"] = list(scenario.replicas)
            by_scenario[scenario.name]["replica_ratios"] = replica_ratios(targets)
        for name in targets:
            if name != ALERTMANAGER and targets[name].get("lost"):
                lost_detail.setdefault(scenario.name, {})[name] = targets[name]["lost"]
    any_burst = any(scenario.with_alertmanager for scenario in chosen)
    if not alertmanager:
        alertmanager_note = "not installed (prometheus-alertmanager not on PATH): skipped"
    else:
        alertmanager_note = "ran in the burst and steady scenarios" if any_burst else "installed, but not run"
    return {
        "mode": "short" if args.short else "full",
        "rounds": rounds,
        "commit": commit_before,
        # The service runs from the work tree: a different value here means it changed during the run.
        "commit_after": _commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "target_cores": sorted(cores[0]),
            "harness_cores": sorted(cores[1]),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "other_cpu_busy_before": busy_before,
        },
        "concurrency": args.concurrency,
        "alertmanager": alertmanager_note,
        "startup_s": {
            name: median(run["startup_s"] for runs in measured.values() for run in runs.get(name, []))
            for name in sorted({name for runs in measured.values() for name in runs})
        },
        "scenarios": by_scenario,
        "goals": goals(by_scenario),
        "nothing_lost": not lost_detail,
        "lost_detail": lost_detail,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rounds = args.rounds or (1 if args.short else 3)
    chosen = scenarios(args.short, args.scenario)
    if not NatsReplicasTarget.installed() and any(scenario.replicas for scenario in chosen):
        _say("nats-server is not installed (pip install -e '.[test]'): the nats scenario is skipped")
        chosen = [scenario for scenario in chosen if not scenario.replicas]
    cores = core_split()
    alertmanager = AlertmanagerTarget.installed()
    if not cores[0]:
        _say("one core only: target and load generator share it (figures are less comparable)")
    if not alertmanager:
        _say("prometheus-alertmanager is not installed: the Alertmanager column is skipped")
    commit_before = _commit()
    busy_before = _others_busy()
    if busy_before > QUIET:
        _say(f"other processes keep {busy_before:.2f} cores busy: the figures will not be comparable")
    measured: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="keptn-bench-") as tmp:
        root = Path(tmp)
        logs = root / "logs"
        port_file = root / "sink.port"
        lifetime = "900" if args.short else "14400"
        sink = spawn(python_module("bench.sink", "--ready-file", str(port_file), "--max-lifetime", lifetime),
                     cores[1], logs, "sink")  # fmt: skip
        try:
            port = wait_for_port_file(sink, port_file, 30)
            harness = Harness(f"http://127.0.0.1:{port}", sink.pid, logs, cores[0], cores[1], args.concurrency)
            for scenario in chosen:
                rate = None
                if scenario.rate_fraction:
                    rate = scenario.rate_fraction * _floor_burst_rate(measured, args.short, harness, root)
                measured[scenario.name] = _run_scenario(scenario, rounds, harness, root, alertmanager, rate)
        except (StartError, RuntimeError) as exc:
            _say(f"benchmark broken: {exc}")
            return EXIT_BROKEN
        finally:
            stop(sink, grace=5)
    report = _report(args, rounds, chosen, measured, cores, alertmanager, busy_before, commit_before)
    _say(table(report))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return EXIT_OK if report["nothing_lost"] else EXIT_LOST


if __name__ == "__main__":
    sys.exit(main())
