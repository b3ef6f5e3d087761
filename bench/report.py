"""Medians over rounds, service/floor and service/Alertmanager ratios, the targets marked pass or miss, a table."""

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
    ("offered_per_s", "offered events/s (open loop)"),
    ("shortfall", "|1 - delivered/offered|"),
    ("backlog_at_end", "queue depth when the load ended"),
    ("send_lag_p99_ms", "load generator lateness p99 ms"),
    ("peak_rss_mib", "peak RSS MiB"),
    ("cpu_s_per_1k_events", "CPU s / 1,000 events"),
    ("cpu_s_per_1k_delivered", "CPU s / 1,000 delivered"),
    ("startup_s", "startup to ready s"),
    ("drain_s", "drain after recovery s"),
    ("rss_growth_mib", "RSS growth first->last mark MiB"),
    ("target_cpu_busy", "target CPU busy (cores)"),
    ("loadgen_cpu_busy", "load generator CPU busy (cores)"),
    ("sink_cpu_busy", "sink CPU busy (cores)"),
    ("nats_cpu_busy", "NATS server CPU busy (cores)"),
    ("other_cpu_busy", "other processes' CPU busy (cores; ~0 = quiet)"),
)
COUNTS = ("sent", "accepted", "expected", "delivered", "lost", "duplicates", "unmarked")
SERVICE, FLOOR, ALERTMANAGER = "service", "floor", "alertmanager"
# The targets of the nats scenario: `nats-<replicas>`.
NATS_PREFIX = "nats-"
PEAK_RSS_LIMIT_MIB = 120.0
STARTUP_LIMIT_S = 1.5


@dataclass(frozen=True, slots=True)
class Goal:
    """One target: `figure` of `scenario`, as a ratio to `against` (floor, alertmanager) or absolute (None)."""

    text: str
    scenario: str
    figure: str
    limit: float
    at_most: bool
    against: str | None


GOALS = (
    Goal("steady: |1 - delivered/offered| <= 2 %", "steady", "shortfall", 0.02, True, None),
    Goal("steady: end-to-end p99 <= 50 ms", "steady", "e2e_p99_ms", 50.0, True, None),
    Goal("steady: queue depth when the load ended < 100", "steady", "backlog_at_end", 99, True, None),
    Goal("burst: accepted/s >= 0.7 x floor", "burst", "accepted_per_s", 0.7, False, FLOOR),
    Goal("burst: delivered/s >= 0.6 x floor", "burst", "delivered_per_s", 0.6, False, FLOOR),
    Goal("burst (stretch): delivered/s >= Alertmanager", "burst", "delivered_per_s", 1.0, False, ALERTMANAGER),
    Goal("burst: CPU s / 1,000 delivered <= 2 x Alertmanager", "burst", "cpu_s_per_1k_delivered", 2.0, True,
         ALERTMANAGER),
    Goal("burst (stretch): CPU s / 1,000 delivered <= Alertmanager", "burst", "cpu_s_per_1k_delivered", 1.0, True,
         ALERTMANAGER),
    Goal("slow platform: p99 ingest <= 2 x floor", "slow", "ingest_p99_ms", 2.0, True, FLOOR),
    Goal("fan-out: delivered/s >= 0.5 x floor", "fanout", "delivered_per_s", 0.5, False, FLOOR),
    Goal("soak: RSS growth first->last mark (10k->100k in full) < 20 MiB", "soak", "rss_growth_mib", 20.0, True, None),
)  # fmt: skip


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


def ratios(
    targets: Mapping[str, Mapping[str, Any]], against: str = FLOOR, of: str = SERVICE
) -> dict[str, float | None]:
    """`of` (the service) / `against` for every figure; empty when either did not run."""
    service, floor = targets.get(of), targets.get(against)
    if service is None or floor is None:
        return {}
    found: dict[str, float | None] = {}
    for key, _ in FIGURES:
        mine, theirs = service.get(key), floor.get(key)
        found[key] = mine / theirs if mine is not None and theirs else None
    return found


def replica_ratios(targets: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each replica count's figures / the floor's, and its delivered/s / one replica's (`scaling`)."""
    found: dict[str, dict[str, float | None]] = {}
    one = targets.get(f"{NATS_PREFIX}1", {}).get("delivered_per_s")
    for name, figures in targets.items():
        if not name.startswith(NATS_PREFIX):
            continue
        found[name] = ratios(targets, FLOOR, name)
        delivered = figures.get("delivered_per_s")
        found[name]["scaling"] = delivered / one if delivered is not None and one else None
    return found


def goals(scenarios: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every target of the issue that this run can judge, as pass or miss (n/a when it was not measured)."""
    judged = []
    for goal in GOALS:
        scenario = scenarios.get(goal.scenario)
        if scenario is None:
            continue
        if goal.against is None:
            source = scenario["targets"].get(SERVICE, {})
        else:
            source = scenario["ratios"] if goal.against == FLOOR else scenario.get("ratios_to_alertmanager", {})
        judged.append(_judge(goal.text, source.get(goal.figure), goal.limit, goal.at_most))
    if "fanout" in scenarios:
        lost = scenarios["fanout"]["targets"].get(SERVICE, {}).get("lost")
        judged.append(_judge("fan-out: every notification delivered (lost)", lost, 0, True))
    for name, scenario in scenarios.items():
        if SERVICE not in scenario["targets"]:
            continue  # the nats scenario's replicas: figures only, no targets yet
        peak = scenario["targets"][SERVICE].get("peak_rss_mib")
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
        versus = [scenario["ratios"]] if scenario["ratios"] else []
        columns = [*targets, "service/floor"] if versus else [*targets]
        replicas = scenario.get("replica_ratios", {})
        for replica_target, replica in replicas.items():
            versus.append(replica)
            columns.append(f"{replica_target}/floor")
        if scenario.get("ratios_to_alertmanager"):
            versus.append(scenario["ratios_to_alertmanager"])
            columns.append("service/AM")
        lines.append("")
        lines.append(f"{name}: {scenario['events']:,} events x {scenario['channels']} channel(s)")
        lines.append(f"  {'':42}" + "".join(f"{column:>15}" for column in columns))
        for key, label in FIGURES:
            values = [targets[target].get(key) for target in targets] + [ratio.get(key) for ratio in versus]
            if all(value is None for value in values):
                continue
            lines.append(f"  {label:42}" + "".join(f"{_cell(value):>15}" for value in values))
        for key in ("expected", "delivered", "lost", "duplicates"):
            values = [targets[target].get(key) for target in targets]
            lines.append(f"  {key:42}" + "".join(f"{_cell(value):>15}" for value in values))
        if replicas:
            values = [replicas.get(target, {}).get("scaling") for target in targets]
            label = "delivered/s / nats-1 (scaling)"
            lines.append(f"  {label:42}" + "".join(f"{_cell(value):>15}" for value in values))
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
