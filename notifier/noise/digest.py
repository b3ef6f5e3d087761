"""The one message that stands for notifications held by a digest window or quiet hours.

It says what was held without repeating it: counts by event type and outcome, the projects, stages and
services, and one line per run with its Bridge link. Plain text, like every Message; bounded, so an outage
of thousands of events still gives one readable message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from notifier.keptn.context import template_context
from notifier.keptn.details import RUN_TRACE
from notifier.keptn.events import KeptnEvent
from notifier.keptn.values import parse_time
from notifier.message import Fact, Link, Message, Severity

MAX_LINES = 20
MAX_NAMES = 10
# Bridge buttons, as in every message: the worst runs' traces (each run's line names its trace too).
MAX_LINKS = 2
MAX_NAME_CHARS = 80
SHORT_CONTEXT = 8
_RANK = {Severity.SUCCESS: 0, Severity.INFO: 1, Severity.WARNING: 2, Severity.FAILURE: 3}


@dataclass
class _Run:
    context: str
    trace: str
    project: str
    service: str
    stages: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    severity: Severity = Severity.SUCCESS


@dataclass
class _Tally:
    """What the held events add up to; outcomes remember their worst severity, to be listed worst first."""

    bridge_url: str
    severity: Severity = Severity.SUCCESS
    outcomes: Counter[str] = field(default_factory=Counter)
    by_type: dict[str, Counter[str]] = field(default_factory=dict)
    places: dict[str, Counter[str]] = field(
        default_factory=lambda: {"Projects": Counter(), "Stages": Counter(), "Services": Counter()}
    )
    runs: dict[str, _Run] = field(default_factory=dict)
    rank_of: dict[str, int] = field(default_factory=dict)
    times: list[datetime] = field(default_factory=list)

    def add(self, event: KeptnEvent) -> None:
        context = template_context(event, self.bridge_url)
        outcome, level = str(context["outcome"]), Severity(str(context["severity"]))
        self.severity = _worst(self.severity, level)
        self.rank_of[outcome] = max(self.rank_of.get(outcome, 0), _RANK[level])
        self.outcomes[outcome] += 1
        self.by_type.setdefault(_clip(event.type), Counter())[outcome] += 1
        for label, value in (("Projects", event.project), ("Stages", event.stage), ("Services", event.service)):
            if value:
                self.places[label][_clip(value)] += 1
        if (moment := parse_time(event.time)) is not None:
            self.times.append(moment)
        if not event.keptn_context:
            return
        run = self.runs.get(event.keptn_context)
        if run is None:
            bridge = context["bridge"]
            trace = str(bridge.get("trace", "")) if isinstance(bridge, dict) else ""
            run = self.runs[event.keptn_context] = _Run(event.keptn_context, trace, event.project, event.service)
        if event.stage and _clip(event.stage) not in run.stages:
            run.stages.append(_clip(event.stage))
        run.outcomes[outcome] += 1
        run.severity = _worst(run.severity, level)

    def counts(self, counter: Counter[str], limit: int = 4) -> str:
        """`2 failed, 9 passed`: worst outcome first, then the most frequent."""
        ordered = sorted(counter.items(), key=lambda item: (-self.rank_of[item[0]], -item[1], item[0]))
        shown = ", ".join(f"{number} {name}" for name, number in ordered[:limit])
        rest = sum(number for _, number in ordered[limit:])
        return f"{shown}, {rest} other" if rest else shown

    def ordered_runs(self) -> list[_Run]:
        return sorted(self.runs.values(), key=lambda run: (-_RANK[run.severity], -run.outcomes.total()))

    def period(self) -> str:
        if not self.times:
            return ""
        first, last = (f"{moment:%Y-%m-%d %H:%M:%S} UTC" for moment in (min(self.times), max(self.times)))
        return f"events at {first}" if first == last else f"events from {first} to {last}"


def digest_message(
    held_events: Sequence[KeptnEvent],
    bridge_url: str,
    reason: str,
    max_lines: int = MAX_LINES,
) -> Message:
    """One message for `held_events` (at least one).

    `reason` completes "N notifications held ...": `noise.hold_reason` writes it, e.g. "during quiet hours
    (22:00-07:00 Europe/Vienna)". `max_lines` bounds the lines that list types and runs (at least 2).
    """
    if not held_events:
        raise ValueError("a digest needs at least one held event")
    if max_lines < 2:
        raise ValueError("max_lines must be at least 2: one line for types, one for runs")
    tally = _Tally(bridge_url)
    for event in held_events:
        tally.add(event)
    type_lines = [f"• {name}: {tally.counts(counted)}" for name, counted in _by_count(tally.by_type)]
    runs = tally.ordered_runs()
    run_lines = [_run_line(run, tally.counts(run.outcomes)) for run in runs]
    # Types get half the lines, or more when there are few runs; runs get the rest.
    type_quota = min(len(type_lines), max(max_lines // 2, max_lines - len(run_lines)))
    text = ["By type:", *_bounded(type_lines, type_quota, "types")]
    if run_lines:
        text += ["", "Runs:", *_bounded(run_lines, max_lines - type_quota, "runs")]
    facts = [Fact(label, _names(counter)) for label, counter in tally.places.items() if counter]
    if runs:
        facts.append(Fact("Runs", str(len(runs))))
    traced = [run for run in runs if run.trace]
    links = [
        Link(RUN_TRACE if len(traced) == 1 else f"{RUN_TRACE} {run.context[:SHORT_CONTEXT]}", run.trace)
        for run in traced
    ]
    count = len(held_events)
    held = f"{count} {'notification' if count == 1 else 'notifications'} held {reason}"
    return Message(
        title=held,
        severity=tally.severity,
        summary=f"{held}: {tally.counts(tally.outcomes)}",
        text="\n".join(text),
        facts=tuple(facts),
        links=tuple(links[:MAX_LINKS]),
        footer=" · ".join(part for part in ("keptn-notifier digest", tally.period()) if part),
        template="digest",
    )


def _run_line(run: _Run, outcomes: str) -> str:
    where = "/".join(_clip(part) for part in (run.project, run.service) if part) or "(no project)"
    if run.stages:
        where += f" ({', '.join(run.stages)})"
    link = run.trace or f"context {_clip(run.context[:SHORT_CONTEXT])}"
    return f"• {where}: {outcomes} · {link}"


def _worst(first: Severity, second: Severity) -> Severity:
    return first if _RANK[first] >= _RANK[second] else second


def _by_count(items: dict[str, Counter[str]]) -> list[tuple[str, Counter[str]]]:
    return sorted(items.items(), key=lambda item: (-item[1].total(), item[0]))


def _names(counter: Counter[str]) -> str:
    ordered = sorted(counter, key=lambda name: (-counter[name], name))
    shown = ", ".join(ordered[:MAX_NAMES])
    more = len(ordered) - MAX_NAMES
    return f"{shown} … and {more} more" if more > 0 else shown


def _bounded(lines: Sequence[str], limit: int, noun: str) -> Iterable[str]:
    """At most `limit` lines; the last one says how many were left out."""
    if len(lines) <= limit:
        return lines
    kept = max(limit - 1, 0)
    return [*lines[:kept], f"… and {len(lines) - kept} more {noun}"]


def _clip(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= MAX_NAME_CHARS else value[: MAX_NAME_CHARS - 1] + "…"
