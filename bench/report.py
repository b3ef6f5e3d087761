"""Medians over rounds, service/floor ratios, the issue's targets marked pass or miss, and a readable table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.stats import median

# The figures the issue asks for, each service and floor, with the ratio service/floor.
FIGURES = (
    ("accepted_per_s", "accepted events/s"),
    ("delivered_per_s", "delivered notifications/s"),
    ("ingest_p50_ms", "ingest p50 ms"),
    ("ingest_p99_ms", "ingest p99 ms"),
    ("e2e_p50_ms", "end-to-end p50 ms"),
    ("e2e_p99_ms", "end-to-end p99 ms"),
    ("peak_rss_mib", "peak RSS MiB"),
    ("cpu_s_per_1k_events", "CPU s / 1,000 events"),
    ("startup_s", "startup to ready s"),
    ("drain_s", "drain after recovery s"),
    ("rss_growth_mib", "RSS growth first->last mark MiB"),
    ("target_cpu_busy", "target CPU busy (cores)"),
    ("loadgen_cpu_busy", "load generator CPU busy (cores)"),
    ("sink_cpu_busy", "sink CPU busy (cores)"),
    ("other_cpu_busy", "other processes' CPU busy (cores; ~0 = quiet)"),
)
COUNTS = ("sent", "accepted", "expected", "delivered", "lost", "duplicates", "unmarked")
SERVICE, FLOOR = "service", "floor"
PEAK_RSS_LIMIT_MIB = 120.0
STARTUP_LIMIT_S = 1.5


@dataclass(frozen=True, slots=True)
class Goal:
    """One of the issue's targets: `figure` of `scenario`, as a ratio to the floor or as an absolute value."""

    text: str
    scenario: str
    figure: str
    limit: float
    at_most: bool
    ratio: bool


GOALS = (
    Goal("burst: accepted/s >= 0.7 x floor", "burst", "accepted_per_s", 0.7, False, True),
    Goal("burst: delivered/s >= 0.6 x floor", "burst", "delivered_per_s", 0.6, False, True),
    Goal("slow platform: p99 ingest <= 2 x floor", "slow", "ingest_p99_ms", 2.0, True, True),
    Goal("fan-out: delivered/s >= 0.5 x floor", "fanout", "delivered_per_s", 0.5, False, True),
    Goal("soak: RSS growth first->last mark (10k->100k in full) < 20 MiB", "soak", "rss_growth_mib", 20.0, True, False),
)


def summarise(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians of the figures over the rounds; counts summed; every round kept as measured."""
    summary: dict[str, Any] = {key: median(run.get(key) for run in runs) for key, _ in FIGURES}
    for key in COUNTS:
        summary[key] = sum(int(run.get(key, 0)) for run in runs)
    marks = [run["rss_mib_at"] for run in runs if "rss_mib_at" in run]
    if marks:
        summary["rss_mib_at"] = {mark: median(one.get(mark) for one in marks) for mark in marks[0]}
    summary["rounds"] = list(runs)
    return summary


def ratios(targets: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    service, floor = targets.get(SERVICE), targets.get(FLOOR)
    if service is None or floor is None:
        return {}
    found: dict[str, float | None] = {}
    for key, _ in FIGURES:
        mine, theirs = service.get(key), floor.get(key)
        found[key] = mine / theirs if mine is not None and theirs else None
    return found


def goals(scenarios: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every target of the issue that this run can judge, as pass or miss (n/a when it was not measured)."""
    judged = []
    for goal in GOALS:
        scenario = scenarios.get(goal.scenario)
        if scenario is None:
            continue
        source = scenario["ratios"] if goal.ratio else scenario["targets"].get(SERVICE, {})
        judged.append(_judge(goal.text, source.get(goal.figure), goal.limit, goal.at_most))
    if "fanout" in scenarios:
        lost = scenarios["fanout"]["targets"].get(SERVICE, {}).get("lost")
        judged.append(_judge("fan-out: every notification delivered (lost)", lost, 0, True))
    for name, scenario in scenarios.items():
        peak = scenario["targets"].get(SERVICE, {}).get("peak_rss_mib")
        judged.append(_judge(f"{name}: peak RSS < {PEAK_RSS_LIMIT_MIB:g} MiB", peak, PEAK_RSS_LIMIT_MIB, True))
    startups = [run["startup_s"] for s in scenarios.values() for run in s["targets"].get(SERVICE, {}).get("rounds", [])]
    judged.append(_judge(f"startup to /ready < {STARTUP_LIMIT_S:g} s", median(startups), STARTUP_LIMIT_S, True))
    return judged


def _judge(text: str, value: float | None, limit: float, at_most: bool) -> dict[str, Any]:
    if value is None:
        verdict = "n/a"
    elif at_most:
        verdict = "pass" if value <= limit else "miss"
    else:
        verdict = "pass" if value >= limit else "miss"
    return {"target": text, "value": value, "limit": limit, "verdict": verdict}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def table(report: Mapping[str, Any]) -> str:
    lines = [f"keptn-notifier benchmark ({report['mode']}, {report['rounds']} round(s), commit {report['commit']})"]
    for name, scenario in report["scenarios"].items():
        targets: Mapping[str, Mapping[str, Any]] = scenario["targets"]
        columns = [*targets, "service/floor"]
        lines.append("")
        lines.append(f"{name}: {scenario['events']:,} events x {scenario['channels']} channel(s)")
        lines.append(f"  {'':42}" + "".join(f"{column:>15}" for column in columns))
        for key, label in FIGURES:
            values = [targets[target].get(key) for target in targets] + [scenario["ratios"].get(key)]
            if all(value is None for value in values):
                continue
            lines.append(f"  {label:42}" + "".join(f"{_cell(value):>15}" for value in values))
        for key in ("expected", "delivered", "lost", "duplicates"):
            values = [targets[target].get(key) for target in targets]
            lines.append(f"  {key:42}" + "".join(f"{_cell(value):>15}" for value in values))
    lines.append("")
    lines.append("targets:")
    for goal in report["goals"]:
        lines.append(f"  [{goal['verdict']:>4}] {goal['target']}: {_cell(goal['value'])}")
    lines.append("")
    startups = ", ".join(f"{name} {_cell(value)}" for name, value in report["startup_s"].items())
    lines.append(f"startup to ready, median s: {startups}")
    lines.append(f"alertmanager: {report['alertmanager']}")
    lines.append(f"other processes' CPU before the run: {report['machine']['other_cpu_busy_before']:.2f} cores")
    lines.append("nothing lost" if report["nothing_lost"] else f"LOST: {report['lost_detail']}")
    return "\n".join(lines)
