"""The parts of the template context read from Keptn's payloads: evaluation, problem, approval, deployment, SLIs.

Each part is a TypedDict: at run time a plain dict (what Jinja sees), to mypy a fixed set of keys, and the
same keys as the table in docs/templates.md (tests/keptn/test_context.py holds them to it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict
from urllib.parse import quote

from notifier.keptn.events import labels_of
from notifier.keptn.kinds import EventKind
from notifier.keptn.result import SliVerdict, sli_verdict
from notifier.keptn.urls import link_url, without_userinfo
from notifier.keptn.values import (
    duration_text,
    format_measurement,
    format_number,
    mapping,
    number,
    sequence_of_mappings,
    strings,
    text,
)


class Indicator(TypedDict):
    name: str
    metric: str
    status: str
    value: str
    targets: str
    warning_targets: str
    key_sli: bool
    message: str
    # How it counts (notifier.verdict.sli_verdict): passed, warned, missed, informational or no_status.
    outcome: str


class MissedIndicator(Indicator):
    # Set when the SLI's own status would mislead: "pass, but a pass target is violated".
    miss: str


class Evaluation(TypedDict):
    present: bool
    score: float | None
    result: str
    indicators: list[Indicator]
    failed: list[MissedIndicator]
    time_start: str
    time_end: str
    compared_events: int


class Problem(TypedDict):
    present: bool
    title: str
    id: str
    url: str
    state: str
    impacted: str
    root_cause: str
    details: str


# The functional form: `pass` is a Python keyword.
Approval = TypedDict("Approval", {"needs_manual": bool, "pass": str, "warning": str})


class Deployment(TypedDict):
    present: bool
    strategy: str
    uris_public: list[str]
    uris_local: list[str]
    names: list[str]
    image: str


class SliValue(TypedDict):
    metric: str
    value: str
    success: bool
    message: str


class Sli(TypedDict):
    present: bool
    provider: str
    # Not "values": templates would reach dict.values() instead.
    indicators: list[SliValue]
    failed: list[SliValue]


class Period(TypedDict):
    start: str
    end: str
    duration: str


# The two titles of Bridge buttons in every message (at most one of each): the page of the event itself (the
# evaluation, the sequence in its stage) and the run's trace. Short, so a phone-width Teams card shows them whole.
OPEN_IN_BRIDGE = "Open in Bridge"
RUN_TRACE = "Run trace"


class BridgeLinks(TypedDict, total=False):
    """Empty without a Bridge URL or a Keptn context; `sequence` only when the event names its project."""

    trace: str
    evaluation: str
    sequence: str


def evaluation_details(data: Mapping[str, Any], slis: Sequence[SliVerdict] | None = None) -> Evaluation:
    """`slis`: `notifier.verdict.sli_verdicts(data)`, when the caller has them already."""
    evaluation = mapping(data.get("evaluation"))
    score = number(evaluation.get("score"))
    items = sequence_of_mappings(evaluation.get("indicatorResults"))
    if slis is None:
        slis = [sli_verdict(item) for item in items]
    indicators = [indicator(item, sli) for item, sli in zip(items, slis, strict=True)]
    compared = evaluation.get("comparedEvents")
    return {
        "present": bool(evaluation),
        "score": None if score is None else round(score, 2),
        "result": text(evaluation.get("result")).lower(),
        "indicators": indicators,
        # Those that missed their pass criteria, failed or warned (notifier.verdict.sli_verdict), in event order.
        "failed": [
            {**shown, "miss": sli.note}
            for shown, sli in zip(indicators, slis, strict=True)
            if sli.counted in ("missed", "warned")
        ],
        "time_start": text(evaluation.get("timeStart")),
        "time_end": text(evaluation.get("timeEnd")),
        "compared_events": len(compared) if isinstance(compared, list) else 0,
    }


def indicator(item: Mapping[str, Any], verdict: SliVerdict) -> Indicator:
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
        "outcome": verdict.counted,
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


def problem_details(data: Mapping[str, Any], legacy: bool = False) -> Problem:
    """Problem fields from `data.problem` (or `data` itself for the legacy event), in either key case."""
    source = data if legacy else mapping(data.get("problem"))
    labelled_url = link_url(labels_of(data).get("Problem URL", ""))
    if not source:  # most events: skip the key-folding below
        return {
            "present": False,
            "title": "",
            "id": "",
            "url": labelled_url,
            "state": "",
            "impacted": "",
            "root_cause": "",
            "details": "",
        }
    lowered = {str(key).lower(): value for key, value in source.items()}

    def first(*keys: str) -> str:
        for key in keys:
            found = text(lowered.get(key)).strip()
            if found:
                return found
        return ""

    details = lowered.get("problemdetails")
    problem: Problem = {
        "present": False,
        "title": first("problemtitle", "title"),
        "id": first("problemid", "pid", "id"),
        "url": link_url(first("problemurl", "url")) or labelled_url,
        "state": first("state").upper(),
        "impacted": first("impactedentity", "impactedentities", "impact"),
        "root_cause": first("rootcause"),
        "details": details.strip() if isinstance(details, str) else "",
    }
    problem["present"] = any(value for key, value in problem.items() if key != "present")
    return problem


def approval_details(kind: EventKind, data: Mapping[str, Any], result: str) -> Approval:
    """A human must act when approval.triggered carries a result whose strategy is `manual`."""
    strategies = mapping(data.get("approval"))
    needs_manual = (
        kind.family == "task"
        and kind.task == "approval"
        and kind.phase == "triggered"
        and result in ("pass", "warning")
        and text(strategies.get(result)).lower() == "manual"
    )
    return {
        "needs_manual": needs_manual,
        "pass": text(strategies.get("pass")).lower(),
        "warning": text(strategies.get("warning")).lower(),
    }


def deployment_details(data: Mapping[str, Any]) -> Deployment:
    deployment = mapping(data.get("deployment"))
    change = mapping(data.get("configurationChange"))
    return {
        "present": bool(deployment),
        "strategy": text(deployment.get("deploymentstrategy")),
        # Made into buttons by the templates: one that carries a password is left out (notifier.urls.link_url).
        "uris_public": [uri for uri in map(link_url, strings(deployment.get("deploymentURIsPublic"))) if uri],
        "uris_local": [without_userinfo(uri) for uri in strings(deployment.get("deploymentURIsLocal"))],
        "names": strings(deployment.get("deploymentNames")),
        "image": text(mapping(change.get("values")).get("image")),
    }


def sli_details(data: Mapping[str, Any]) -> Sli:
    get_sli = mapping(data.get("get-sli"))
    values: list[SliValue] = []
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
        "indicators": values,
        "failed": [item for item in values if not item["success"]],
    }


def period_of(data: Mapping[str, Any], task: str) -> Period:
    """The time window a task worked on (test run, SLI query, evaluation) with a readable duration."""
    payload = mapping(data.get(task)) if task else {}
    start = text(payload.get("start") or payload.get("timeStart"))
    end = text(payload.get("end") or payload.get("timeEnd"))
    return {"start": start, "end": end, "duration": duration_text(start, end)}


def bridge_links(bridge_url: str, keptn_context: str, project: str, stage: str) -> BridgeLinks:
    """Keptn Bridge 1.x deep links; empty unless a Bridge URL is configured and the event has a context."""
    base = bridge_url.strip().rstrip("/") if isinstance(bridge_url, str) else ""
    if not base or not keptn_context:
        return {}
    context = quote(keptn_context, safe="")
    links: BridgeLinks = {"trace": f"{base}/trace/{context}", "evaluation": f"{base}/evaluation/{context}"}
    if project:
        sequence = f"{base}/project/{quote(project, safe='')}/sequence/{context}"
        links["sequence"] = f"{sequence}/stage/{quote(stage, safe='')}" if stage else sequence
    return links
