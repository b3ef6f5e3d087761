"""Where an event type sits in Keptn's scheme (task, sequence, problem, log, lifecycle), and its template chain."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

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
    """Classify by Keptn's type grammar, never by counting dots alone (the table in docs/templates.md).

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


def task_label(kind: EventKind) -> str:
    name = kind.task or kind.sequence
    if not name:
        return ""
    return TASK_LABELS.get(name) or name.replace("-", " ").replace("_", " ").replace(".", " ").capitalize()
