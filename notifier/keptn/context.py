"""The template context: every name a template may use, derived once in Python from one event.

`TemplateContext` is the contract with template authors, typed key by key; docs/templates.md lists the same
keys ("What a template sees") and a test holds the two together. At run time it is a plain dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from notifier.keptn.details import (
    Approval,
    BridgeLinks,
    Deployment,
    Evaluation,
    Period,
    Problem,
    Sli,
    approval_details,
    bridge_links,
    deployment_details,
    evaluation_details,
    period_of,
    problem_details,
    sli_details,
)
from notifier.keptn.events import KeptnEvent
from notifier.keptn.headline import headline
from notifier.keptn.kinds import LEGACY_PROBLEM, Family, classify, task_label
from notifier.keptn.labels import ShownLabels, shown_labels
from notifier.keptn.payload import (
    ActionDetails,
    ProblemInfo,
    action_details,
    created_project_name,
    evaluation_timeframe,
    git_remote,
    monitoring_type,
    problem_info,
    requested_slis,
    strategy_of_tests,
)
from notifier.keptn.result import VerdictContext, sli_verdicts, worst_outcome
from notifier.keptn.values import mapping, text


class KindFields(TypedDict):
    family: Family
    task: str
    stage: str
    sequence: str
    phase: str


class TemplateContext(TypedDict):
    event: Mapping[str, Any]
    data: Mapping[str, Any]
    id: str
    source: str
    type: str
    subject: str
    time: str
    keptn_context: str
    triggeredid: str
    project: str
    stage: str
    service: str
    where: str
    status: str
    result: str
    message: str
    labels: Mapping[str, str]
    labels_shown: ShownLabels
    kind: KindFields
    task_label: str
    evaluation: Evaluation
    problem: Problem
    problem_info: ProblemInfo
    action: ActionDetails
    test_strategy: str
    timeframe: str
    sli_requested: list[str]
    git_remote: str
    monitoring_type: str
    approval: Approval
    deployment: Deployment
    sli: Sli
    period: Period
    bridge: BridgeLinks
    outcome: str
    severity: str
    emoji: str
    verdict: VerdictContext


def template_context(event: KeptnEvent, bridge_url: str = "") -> TemplateContext:
    """Everything a template may use. Never raises, whatever the event holds."""
    raw = mapping(event.raw)
    data = mapping(event.data)
    event_type = text(getattr(event, "type", ""))
    kind = classify(event_type, data)
    project, stage, service = event.project, event.stage, event.service
    if not project and kind.family == "lifecycle":
        project = created_project_name(data)
    status, result = event.status, event.result
    message = text(data.get("message"))
    keptn_context = event.keptn_context
    problem = problem_details(data, legacy=event_type == LEGACY_PROBLEM)
    approval = approval_details(kind, data, result)
    # Read once for both: the evaluation's SLIs and the worst of the outcome fields count the same verdicts.
    slis = sli_verdicts(data)
    worst = worst_outcome(data, slis)
    outcome, severity, emoji = headline(kind, status, message, problem["state"], approval["needs_manual"], worst)
    labels = event.labels
    return {
        "event": raw,
        "data": data,
        "id": text(getattr(event, "id", "")),
        "source": text(getattr(event, "source", "")),
        "type": event_type,
        "subject": text(raw.get("subject")),
        "time": event.time,
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
        "labels_shown": shown_labels(labels, skip_values=(problem["url"],)),
        # Spelled out: dataclasses.asdict deep-copies, and this runs for every message.
        "kind": {
            "family": kind.family,
            "task": kind.task,
            "stage": kind.stage,
            "sequence": kind.sequence,
            "phase": kind.phase,
        },
        "task_label": task_label(kind),
        "evaluation": evaluation_details(data, slis),
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
