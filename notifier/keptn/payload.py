"""The task-specific part of a Keptn event that a person acting on it needs, read leniently.

Keptn puts what a task is asked to do, or what it decided, under keys of its own: `data.test.teststrategy`,
`data.evaluation.timeframe`, `data["get-sli"].indicators`, `data.action`, `data.problem`'s severity and
start, `data.createdProject.gitRemoteURL` and the project's name, the `type` of `monitoring.configure`, and the
approval strategy.
Every function takes the event's `data` as received and never raises: fields may be missing or mistyped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypedDict

from notifier.keptn.urls import safe_git_remote

APPROVAL_TRIGGERED: Final = "sh.keptn.event.approval.triggered"
MAX_REQUESTED_SLIS: Final = 20


class ActionDetails(TypedDict):
    """What templates see as `action`."""

    present: bool
    name: str
    action: str
    description: str


class ProblemInfo(TypedDict):
    """What templates see as `problem_info`."""

    severity: str
    impact: str
    started: str


def action_details(data: Mapping[str, Any]) -> ActionDetails:
    """The remediation action chosen (`get-action.finished`) or to run (`action.triggered`)."""
    action = _mapping(data.get("action"))
    name, key, description = _text(action.get("name")), _text(action.get("action")), _text(action.get("description"))
    return {"present": bool(name or key or description), "name": name, "action": key, "description": description}


def strategy_of_tests(data: Mapping[str, Any]) -> str:
    """`test.triggered`: which tests to run (functional, performance...)."""
    return _text(_mapping(data.get("test")).get("teststrategy"))


def evaluation_timeframe(data: Mapping[str, Any]) -> str:
    """`evaluation.triggered`: the window as Keptn's `timeframe` ("5m"), used when no start and end are given."""
    return _text(_mapping(data.get("evaluation")).get("timeframe"))


def requested_slis(data: Mapping[str, Any]) -> list[str]:
    """`get-sli.triggered`: the SLIs the provider is asked for (at most 20)."""
    indicators = _mapping(data.get("get-sli")).get("indicators")
    if not isinstance(indicators, list):
        return []
    return [item.strip() for item in indicators if isinstance(item, str) and item.strip()][:MAX_REQUESTED_SLIS]


def git_remote(data: Mapping[str, Any]) -> str:
    """`project.create.*`: the project's git remote, without any credential in it."""
    created = _mapping(data.get("createdProject"))
    remote = _text(created.get("gitRemoteURL")) or _text(data.get("gitRemoteURL"))
    return safe_git_remote(remote) if remote else ""


def created_project_name(data: Mapping[str, Any]) -> str:
    """`project.create.*`: the project's name, which `.triggered` gives only as `data.projectName` (no `project`)."""
    return _text(data.get("projectName")) or _text(_mapping(data.get("createdProject")).get("projectName"))


def monitoring_type(event_type: str, data: Mapping[str, Any]) -> str:
    """`monitoring.configure`: the monitoring provider (dynatrace, prometheus...)."""
    return _text(data.get("type")) if event_type == "sh.keptn.event.monitoring.configure" else ""


def problem_info(data: Mapping[str, Any], legacy: bool = False) -> ProblemInfo:
    """Severity, impact and start of a problem, from its top level or a `ProblemDetails` object, any key case.

    Dynatrace sends `ProblemDetails: {severityLevel, impactLevel, startTime (epoch ms)}`; other tools put
    `severity`, `impact` or `startsAt` next to the title.
    """
    source = data if legacy else _mapping(data.get("problem"))
    if not source:  # most events: nothing to look for
        return {"severity": "", "impact": "", "started": ""}
    top = {str(key).lower(): value for key, value in source.items()}
    nested = {str(key).lower(): value for key, value in _mapping(top.get("problemdetails")).items()}

    def first(*keys: str) -> object:
        for found in (top, nested):
            for key in keys:
                value = found.get(key)
                if value not in (None, "", -1):
                    return value
        return None

    return {
        "severity": _text(first("problemseverity", "severity", "severitylevel")),
        "impact": _text(first("problemimpact", "impact", "impactlevel")),
        "started": _time_text(first("starttime", "startsat", "startedat", "start")),
    }


def approval_strategy(data: Mapping[str, Any]) -> str:
    """The strategy (`manual`, `automatic`) that applies to an approval's result; empty when unknown."""
    result = _text(data.get("result")).lower()
    if result not in ("pass", "warning"):
        return ""
    return _text(_mapping(data.get("approval")).get(result)).lower()


def is_automatic_approval(event_type: str, data: Mapping[str, Any]) -> bool:
    """An `approval.triggered` that Keptn approves by itself: nobody has to act on it."""
    return event_type == APPROVAL_TRIGGERED and approval_strategy(data) == "automatic"


def _time_text(value: object) -> str:
    """An RFC 3339 string as given; epoch milliseconds (Dynatrace) as RFC 3339 UTC."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            moment = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return ""
        return moment.isoformat().replace("+00:00", "Z")
    return ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""
