"""The thin Keptn-specific layer: what kind of event this is, which templates fit it, and what they see.

Everything Keptn-shaped is derived here, once, in Python, so templates stay short and a change in how Keptn
spells a field is fixed in one place. Every function is lenient: events come from many producers, any field
may be missing or of the wrong type, and a plain non-Keptn CloudEvent must still produce a context.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, Literal
from urllib.parse import quote

from notifier.events import KeptnEvent
from notifier.labels import shown_labels
from notifier.message import Severity
from notifier.payload import (
    action_details,
    approval_strategy,
    evaluation_timeframe,
    git_remote,
    monitoring_type,
    problem_info,
    requested_slis,
    strategy_of_tests,
)
from notifier.verdict import WorstOutcome, headline, sli_verdict, worst_outcome

Family = Literal["task", "sequence", "problem", "log", "lifecycle", "other"]

TASK_PREFIX: Final = "sh.keptn.event."
LEGACY_PROBLEM: Final = "sh.keptn.events.problem"
LOG_PREFIX: Final = "sh.keptn.log."
TASK_PHASES: Final = frozenset({"triggered", "started", "finished"})
SEQUENCE_PHASES: Final = frozenset({"triggered", "finished"})
# Six-part types that look like `<stage>.<sequence>.<phase>` but are project and service administration.
LIFECYCLE_PREFIXES: Final = ("project.create", "project.delete", "service.create", "service.delete")
# Five-part administration types that are not tasks either.
LIFECYCLE_TYPES: Final = frozenset({"monitoring.configure"})
# Written by name: ruff flags the raw character as a look-alike of "i".
INFO_EMOJI: Final = "\N{INFORMATION SOURCE}\N{VARIATION SELECTOR-16}"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")

TASK_LABELS: Final = MappingProxyType(
    {
        "approval": "Approval",
        "deployment": "Deployment",
        "evaluation": "Evaluation",
        "get-sli": "SLI retrieval",
        "release": "Release",
        "rollback": "Rollback",
        "test": "Tests",
        "action": "Remediation action",
        "remediation": "Remediation",
        "project.create": "Project creation",
        "project.delete": "Project deletion",
        "service.create": "Service creation",
        "service.delete": "Service deletion",
        "monitoring.configure": "Monitoring configuration",
    }
)


@dataclass(frozen=True, slots=True)
class EventKind:
    """Where an event type sits in Keptn's scheme; empty strings for the parts that do not apply."""

    family: Family
    task: str = ""
    stage: str = ""
    sequence: str = ""
    phase: str = ""


def classify(event_type: str, data: Mapping[str, Any] | None = None) -> EventKind:
    """Classify by the documented type grammar, never by counting dots alone (see keptn-facts.md).

    `data` is optional: only a remediation sequence's `.triggered` event needs it, to become a "problem"
    when it carries `data.problem`.
    """
    if not isinstance(event_type, str):
        return EventKind("other")
    if event_type == LEGACY_PROBLEM:
        return EventKind("problem")
    if event_type.startswith(LOG_PREFIX):
        level = event_type[len(LOG_PREFIX) :]
        return EventKind("log", phase=level) if _NAME.fullmatch(level) else EventKind("other")
    if not event_type.startswith(TASK_PREFIX):
        return EventKind("other")
    rest = event_type[len(TASK_PREFIX) :]
    parts = rest.split(".")
    if not all(_NAME.fullmatch(part) for part in parts):
        return EventKind("other")
    for prefix in LIFECYCLE_PREFIXES:
        if rest.startswith(prefix + ".") and len(parts) > 2:
            return EventKind("lifecycle", task=prefix, phase=".".join(parts[2:]))
    if rest in LIFECYCLE_TYPES:
        return EventKind("lifecycle", task=rest)
    if len(parts) == 2:
        task, phase = parts
        if phase in TASK_PHASES or (task, phase) == ("evaluation", "invalidated"):
            return EventKind("task", task=task, phase=phase)
        return EventKind("other")
    if len(parts) == 3:
        if parts[1:] == ["status", "changed"]:
            return EventKind("task", task=parts[0], phase="status.changed")
        stage, sequence, phase = parts
        if phase in SEQUENCE_PHASES:
            is_problem = (
                sequence == "remediation"
                and phase == "triggered"
                and isinstance(data, Mapping)
                and isinstance(data.get("problem"), Mapping)
                and bool(data.get("problem"))
            )
            family: Family = "problem" if is_problem else "sequence"
            return EventKind(family, stage=stage, sequence=sequence, phase=phase)
    return EventKind("other")


def template_candidates(event_type: str) -> tuple[str, ...]:
    """Template names to try, most specific first; always ends with `default`."""
    kind = classify(event_type)
    names: list[str] = [event_type] if isinstance(event_type, str) and event_type else []
    if kind.family == "task":
        names.append(f"task.{kind.phase}")
    elif kind.family == "sequence":
        names += [f"sequence.{kind.sequence}.{kind.phase}", f"sequence.{kind.phase}"]
    elif kind.family == "problem":
        names.append("problem")
    elif kind.family == "log":
        names.append(f"log.{kind.phase}")
    elif kind.family == "lifecycle":
        names.append("lifecycle")
    names.append("default")
    return tuple(dict.fromkeys(names))


def template_context(event: KeptnEvent, bridge_url: str = "") -> dict[str, object]:
    """Everything a template may use. Never raises, whatever the event holds."""
    raw = event.raw if isinstance(event.raw, Mapping) else {}
    data = event.data if isinstance(event.data, Mapping) else {}
    event_type = text(getattr(event, "type", ""))
    kind = classify(event_type, data)
    project, stage, service = text(data.get("project")), text(data.get("stage")), text(data.get("service"))
    status, result = text(data.get("status")).lower(), text(data.get("result")).lower()
    message = text(data.get("message"))
    keptn_context = text(raw.get("shkeptncontext"))
    problem = problem_details(data, legacy=event_type == LEGACY_PROBLEM)
    approval = approval_details(kind, data)
    worst = worst_outcome(data)
    outcome, severity, emoji = describe_outcome(kind, status, message, problem, approval, worst)
    labels = labels_of(data)
    return {
        "event": raw,
        "data": data,
        "id": text(getattr(event, "id", "")),
        "source": text(getattr(event, "source", "")),
        "type": event_type,
        "subject": text(raw.get("subject")),
        "time": text(raw.get("time")),
        "keptn_context": keptn_context,
        "triggeredid": text(raw.get("triggeredid")),
        "project": project,
        "stage": stage,
        "service": service,
        "where": "/".join(part for part in (project, stage, service) if part),
        "status": status,
        "result": result,
        "message": message,
        "labels": labels,
        "labels_shown": shown_labels(labels, skip_values=(str(problem["url"]),)),
        # Spelled out: dataclasses.asdict deep-copies, and this runs for every message.
        "kind": {
            "family": kind.family,
            "task": kind.task,
            "stage": kind.stage,
            "sequence": kind.sequence,
            "phase": kind.phase,
        },
        "task_label": task_label(kind),
        "evaluation": evaluation_details(data),
        "problem": problem,
        "problem_info": problem_info(data, legacy=event_type == LEGACY_PROBLEM),
        "action": action_details(data),
        "test_strategy": strategy_of_tests(data),
        "timeframe": evaluation_timeframe(data),
        "sli_requested": requested_slis(data),
        "git_remote": git_remote(data),
        "monitoring_type": monitoring_type(event_type, data),
        "approval": approval,
        "deployment": deployment_details(data),
        "sli": sli_details(data),
        "period": period_of(data, kind.task),
        "bridge": bridge_links(bridge_url, keptn_context, project, stage),
        "outcome": outcome,
        "severity": severity.value,
        "emoji": emoji,
        "verdict": worst.as_context(),
    }


def text(value: object) -> str:
    """A scalar as display text; containers and None become empty (they are never meant to be shown raw)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    return ""


def format_number(value: float, digits: int = 2) -> str:
    """83.33333333333334 -> "83.33", 100.0 -> "100", 0.000123 -> "0.000123": short but never zeroed out."""
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 10**-digits:
        return f"{value:.3g}"
    rounded = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if rounded in ("-0", "") else rounded


def format_measurement(value: float) -> str:
    """SLI values span 0.002 (error rates) to 1841 (requests): keep three significant digits below one."""
    return format_number(value) if abs(value) >= 1 or value == 0 else f"{value:.3g}"


def number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def sequence_of_mappings(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str) and item] if isinstance(value, list) else []


def labels_of(data: Mapping[str, Any]) -> dict[str, str]:
    return {str(key): text(value) for key, value in mapping(data.get("labels")).items()}


def task_label(kind: EventKind) -> str:
    name = kind.task or kind.sequence
    if not name:
        return ""
    return TASK_LABELS.get(name) or name.replace("-", " ").replace("_", " ").replace(".", " ").capitalize()


def evaluation_details(data: Mapping[str, Any]) -> dict[str, object]:
    evaluation = mapping(data.get("evaluation"))
    score = number(evaluation.get("score"))
    items = sequence_of_mappings(evaluation.get("indicatorResults"))
    indicators = [indicator(item) for item in items]
    slis = [sli_verdict(item) for item in items]
    return {
        "present": bool(evaluation),
        "score": None if score is None else round(score, 2),
        "result": text(evaluation.get("result")).lower(),
        "indicators": indicators,
        # Missed: any status but pass and info, or a violated pass target (notifier.verdict.sli_verdict).
        "failed": [
            {**shown, "miss": sli.note} for shown, sli in zip(indicators, slis, strict=True) if sli.counted == "missed"
        ],
        "time_start": text(evaluation.get("timeStart")),
        "time_end": text(evaluation.get("timeEnd")),
        "compared_events": len(evaluation.get("comparedEvents") or ())
        if isinstance(evaluation.get("comparedEvents"), list)
        else 0,
    }


def indicator(item: Mapping[str, Any]) -> dict[str, object]:
    value = mapping(item.get("value"))
    metric = text(value.get("metric"))
    measured = number(value.get("value"))
    return {
        "name": text(item.get("displayName")) or metric or "unnamed SLI",
        "metric": metric,
        "status": text(item.get("status")).lower(),
        "value": "" if measured is None else format_measurement(measured),
        "targets": targets_text(item.get("passTargets")),
        "warning_targets": targets_text(item.get("warningTargets")),
        "key_sli": item.get("keySli") is True,
        "message": text(value.get("message")),
    }


def targets_text(targets: object) -> str:
    """Pass criteria are ANDed by Keptn; show each, with the absolute value a relative one resolved to."""
    shown = []
    for target in sequence_of_mappings(targets):
        criteria = text(target.get("criteria"))
        if not criteria:
            continue
        resolved = number(target.get("targetValue"))
        if "%" in criteria and resolved:
            criteria = f"{criteria} (= {format_number(resolved)})"
        shown.append(criteria)
    return " and ".join(shown)


def problem_details(data: Mapping[str, Any], legacy: bool = False) -> dict[str, object]:
    """Problem fields from `data.problem` (or `data` itself for the legacy event), in either key case."""
    source = data if legacy else mapping(data.get("problem"))
    labels = labels_of(data)
    if not source:  # most events: skip the key-folding below
        empty = dict.fromkeys(("title", "id", "state", "impacted", "root_cause", "details"), "")
        return {"present": False, **empty, "url": labels.get("Problem URL", "")}
    lowered = {str(key).lower(): value for key, value in source.items()}

    def first(*keys: str) -> str:
        for key in keys:
            found = text(lowered.get(key)).strip()
            if found:
                return found
        return ""

    details = lowered.get("problemdetails")
    problem = {
        "title": first("problemtitle", "title"),
        "id": first("problemid", "pid", "id"),
        "url": first("problemurl", "url") or labels.get("Problem URL", ""),
        "state": first("state").upper(),
        "impacted": first("impactedentity", "impactedentities", "impact"),
        "root_cause": first("rootcause"),
        "details": details.strip() if isinstance(details, str) else "",
    }
    return {"present": any(problem.values()) and bool(source), **problem}


def approval_details(kind: EventKind, data: Mapping[str, Any]) -> dict[str, object]:
    """A human must act when approval.triggered carries a result whose strategy is `manual`."""
    strategies = mapping(data.get("approval"))
    pass_strategy = text(strategies.get("pass")).lower()
    warning_strategy = text(strategies.get("warning")).lower()
    needs_manual = (
        kind.family == "task"
        and kind.task == "approval"
        and kind.phase == "triggered"
        and approval_strategy(data) == "manual"
    )
    return {"needs_manual": needs_manual, "pass": pass_strategy, "warning": warning_strategy}


def deployment_details(data: Mapping[str, Any]) -> dict[str, object]:
    deployment = mapping(data.get("deployment"))
    change = mapping(data.get("configurationChange"))
    image = text(mapping(change.get("values")).get("image"))
    public, local = (
        strings(deployment.get("deploymentURIsPublic")),
        strings(deployment.get("deploymentURIsLocal")),
    )
    return {
        "present": bool(deployment),
        "strategy": text(deployment.get("deploymentstrategy")),
        "uris_public": public,
        "uris_local": local,
        "names": strings(deployment.get("deploymentNames")),
        "image": image,
    }


def sli_details(data: Mapping[str, Any]) -> dict[str, object]:
    get_sli = mapping(data.get("get-sli"))
    values = []
    for item in sequence_of_mappings(get_sli.get("indicatorValues")):
        measured = number(item.get("value"))
        values.append(
            {
                "metric": text(item.get("metric")) or "unnamed SLI",
                "value": "" if measured is None else format_measurement(measured),
                "success": item.get("success") is True,
                "message": text(item.get("message")),
            }
        )
    return {
        "present": bool(get_sli),
        "provider": text(get_sli.get("sliProvider")),
        # Not "values": templates would reach dict.values() instead.
        "indicators": values,
        "failed": [item for item in values if not item["success"]],
    }


def period_of(data: Mapping[str, Any], task: str) -> dict[str, str]:
    """The time window a task worked on (test run, SLI query, evaluation) with a readable duration."""
    payload = mapping(data.get(task)) if task else {}
    start = text(payload.get("start") or payload.get("timeStart"))
    end = text(payload.get("end") or payload.get("timeEnd"))
    return {"start": start, "end": end, "duration": duration_text(start, end)}


def parse_time(value: object) -> datetime | None:
    """RFC 3339 with any number of fractional digits (Keptn sends nanoseconds); naive times are UTC."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(
        r"\s*(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?\s*(Z|z|[+-]\d{2}:?\d{2})?\s*", value
    )
    if not match:
        return None
    day, clock, fraction, zone = match.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    zone = "+00:00" if not zone or zone in "Zz" else zone
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}.{micro}{zone}")
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def duration_text(start: object, end: object) -> str:
    began, ended = parse_time(start), parse_time(end)
    if began is None or ended is None or ended < began:
        return ""
    seconds = round((ended - began).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"


def bridge_links(bridge_url: str, keptn_context: str, project: str, stage: str) -> dict[str, str]:
    """Keptn Bridge 1.x deep links; empty unless a Bridge URL is configured and the event has a context."""
    base = bridge_url.strip().rstrip("/") if isinstance(bridge_url, str) else ""
    if not base or not keptn_context:
        return {}
    context = quote(keptn_context, safe="")
    links = {"trace": f"{base}/trace/{context}", "evaluation": f"{base}/evaluation/{context}"}
    if project:
        sequence = f"{base}/project/{quote(project, safe='')}/sequence/{context}"
        links["sequence"] = f"{sequence}/stage/{quote(stage, safe='')}" if stage else sequence
    return links


def describe_outcome(
    kind: EventKind,
    status: str,
    message: str,
    problem: Mapping[str, object],
    approval: Mapping[str, object],
    worst: WorstOutcome,
) -> tuple[str, Severity, str]:
    """One word, a severity and an emoji. Phase first: a `.triggered` event carries the previous result.

    After the phase, the worst of the outcome fields decides (notifier.verdict): never "passed" while any
    field says warning or fail.
    """
    decided = headline(worst, status, message)
    if kind.family == "problem":
        if problem.get("state") in ("RESOLVED", "CLOSED"):
            return "resolved", Severity.SUCCESS, "✅"
        return "open", Severity.FAILURE, "🚨"
    if kind.family == "log":
        return "error", Severity.FAILURE, "🔥"
    if status == "aborted" and decided is not None:
        return decided
    if kind.phase == "triggered":
        if approval.get("needs_manual"):
            return "awaiting approval", Severity.WARNING, "✋"
        return "triggered", Severity.INFO, "🚀"
    if kind.phase == "started":
        return "started", Severity.INFO, "⏳"
    if kind.phase == "status.changed":
        return "in progress", Severity.INFO, "🔄"
    if kind.phase == "invalidated":
        return "invalidated", Severity.WARNING, "🚫"
    if decided is not None:
        return decided
    if status == "succeeded":
        return "succeeded", Severity.SUCCESS, "✅"
    if status == "unknown":
        return "unknown", Severity.INFO, "❔"
    if kind.phase == "finished":
        return "finished", Severity.INFO, INFO_EMOJI
    return "received", Severity.INFO, INFO_EMOJI
