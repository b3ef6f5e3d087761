"""The template context: problems in either key case, approvals, evaluations, outcomes, Bridge links, and a context
that never raises."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_type_hints, is_typeddict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.keptn.context import KindFields, TemplateContext, template_context
from notifier.keptn.details import (
    Approval,
    BridgeLinks,
    Deployment,
    Evaluation,
    Indicator,
    Period,
    Problem,
    Sli,
    SliValue,
)
from notifier.keptn.events import KeptnEvent
from notifier.keptn.labels import LabelLink, LabelPair, ShownLabels
from notifier.keptn.payload import ActionDetails, ProblemInfo
from notifier.keptn.result import VerdictContext

BRIDGE = "https://keptn.example.com/bridge/"
TEMPLATES_DOC = Path(__file__).resolve().parents[2] / "docs" / "templates.md"


def make_event(event_type: str, data: Any = None, **attributes: Any) -> KeptnEvent:
    raw = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "test",
        "type": event_type,
        "shkeptncontext": "ctx-1",
        **attributes,
        "data": data,
    }
    return KeptnEvent(id="e-1", source="test", type=event_type, specversion="1.0", data=data, raw=raw)


def test_problem_fields_are_read_in_either_key_case() -> None:
    capitalised = {
        "State": "OPEN",
        "ProblemID": "P-42",
        "PID": "-123_456V2",
        "ProblemTitle": "Response time degradation",
        "ImpactedEntity": "Web request service carts",
        "ProblemURL": "https://dt.example.com/#problems;pid=-123_456V2",
    }
    camel = {
        "problemTitle": "error_rate_high",
        "rootCause": "Error rate above 5 %",
        "problemURL": "https://prometheus.example.com/alerts",
        "state": "resolved",
    }
    event_type = "sh.keptn.event.production.remediation.triggered"
    first = template_context(make_event(event_type, {"project": "p", "problem": capitalised}))
    second = template_context(make_event(event_type, {"project": "p", "problem": camel}))
    assert first["problem"] == {
        "present": True,
        "title": "Response time degradation",
        "id": "P-42",
        "url": "https://dt.example.com/#problems;pid=-123_456V2",
        "state": "OPEN",
        "impacted": "Web request service carts",
        "root_cause": "",
        "details": "",
    }
    assert (first["outcome"], first["severity"]) == ("open", "failure")
    assert second["problem"] == {
        "present": True,
        "title": "error_rate_high",
        "id": "",
        "url": "https://prometheus.example.com/alerts",
        "state": "RESOLVED",
        "impacted": "",
        "root_cause": "Error rate above 5 %",
        "details": "",
    }
    assert (second["outcome"], second["severity"]) == ("resolved", "success")


def test_the_legacy_problem_event_keeps_its_fields_at_the_top_of_data() -> None:
    data = {"project": "p", "State": "OPEN", "PID": "99", "ProblemTitle": "Disk full", "labels": {}}
    context = template_context(make_event("sh.keptn.events.problem", data))
    problem = context["problem"]
    assert isinstance(problem, dict)
    assert (problem["title"], problem["id"], problem["state"]) == ("Disk full", "99", "OPEN")
    assert context["kind"] == {"family": "problem", "task": "", "stage": "", "sequence": "", "phase": ""}


def test_the_problem_url_label_is_used_when_the_problem_has_no_url() -> None:
    data = {
        "labels": {"Problem URL": "https://dt.example.com/p/1"},
        "problem": {"ProblemTitle": "Slow"},
    }
    context = template_context(make_event("sh.keptn.event.prod.remediation.triggered", data))
    assert context["labels"] == {"Problem URL": "https://dt.example.com/p/1"}
    assert isinstance(context["problem"], dict)
    assert context["problem"]["url"] == "https://dt.example.com/p/1"


@pytest.mark.parametrize(
    ("result", "strategies", "needs_manual"),
    [
        ("pass", {"pass": "manual", "warning": "manual"}, True),
        ("warning", {"pass": "automatic", "warning": "manual"}, True),
        ("pass", {"pass": "automatic", "warning": "manual"}, False),
        ("fail", {"pass": "manual", "warning": "manual"}, False),
        ("", {"pass": "manual"}, False),
        ("pass", "manual", False),
    ],
)
def test_an_approval_needs_a_human_when_the_strategy_for_its_result_is_manual(
    result: str, strategies: object, needs_manual: bool
) -> None:
    data = {"project": "p", "stage": "prod", "service": "s", "result": result, "approval": strategies}
    context = template_context(make_event("sh.keptn.event.approval.triggered", data))
    assert isinstance(context["approval"], dict)
    assert context["approval"]["needs_manual"] is needs_manual
    assert (context["outcome"] == "awaiting approval") is needs_manual


def test_only_approval_triggered_asks_for_a_human() -> None:
    data = {"result": "pass", "approval": {"pass": "manual"}}
    context = template_context(make_event("sh.keptn.event.approval.finished", data))
    assert isinstance(context["approval"], dict)
    assert context["approval"]["needs_manual"] is False


def test_evaluation_is_normalised_for_display() -> None:
    data = {
        "status": "succeeded",
        "result": "fail",
        "evaluation": {
            "score": 83.33333333333334,
            "result": "FAIL",
            "indicatorResults": [
                {
                    "displayName": "Response time P95",
                    "status": "fail",
                    "keySli": True,
                    "value": {"metric": "response_time_p95", "value": 947.318, "success": True},
                    "passTargets": [
                        {"criteria": "<=+10%", "targetValue": 563.99, "violated": True},
                        {"criteria": "<600", "targetValue": 0, "violated": True},
                    ],
                    "warningTargets": [{"criteria": "<=800", "targetValue": 0, "violated": True}],
                },
                {"status": "warning", "value": {"metric": "error_rate", "value": 0.031}},
                {"status": "pass", "value": {"metric": "throughput", "value": 1841}},
            ],
        },
    }
    context = template_context(make_event("sh.keptn.event.evaluation.finished", data))
    evaluation = context["evaluation"]
    assert isinstance(evaluation, dict)
    assert evaluation["score"] == 83.33
    assert evaluation["result"] == "fail"
    assert evaluation["indicators"][0] == {
        "name": "Response time P95",
        "metric": "response_time_p95",
        "status": "fail",
        "value": "947.32",
        "targets": "<=+10% (= 563.99) and <600",
        "warning_targets": "<=800",
        "key_sli": True,
        "message": "",
        "outcome": "missed",
    }
    # Those that missed their pass criteria: failed or only met their warning criteria.
    assert [item["outcome"] for item in evaluation["indicators"]] == ["missed", "warned", "passed"]
    assert [item["name"] for item in evaluation["failed"]] == ["Response time P95", "error_rate"]
    assert evaluation["failed"][1]["value"] == "0.031"
    # A failed quality gate is status=succeeded with result=fail: a failure, not a success.
    assert (context["outcome"], context["severity"], context["emoji"]) == ("failed", "failure", "❌")


@pytest.mark.parametrize(
    ("event_type", "data", "outcome", "severity"),
    [
        ("sh.keptn.event.test.finished", {"status": "succeeded", "result": "pass"}, "passed", "success"),
        ("sh.keptn.event.test.finished", {"status": "succeeded", "result": "warning"}, "warning", "warning"),
        ("sh.keptn.event.test.finished", {"status": "errored", "result": "fail"}, "errored", "failure"),
        ("sh.keptn.event.test.finished", {"status": "succeeded"}, "succeeded", "success"),
        (
            "sh.keptn.event.dev.delivery.finished",
            {"status": "errored", "result": "fail", "message": "sequence timed out"},
            "timed out",
            "failure",
        ),
        ("sh.keptn.event.dev.delivery.finished", {"status": "aborted"}, "aborted", "warning"),
        # A .triggered event carries the previous task's result; its own outcome is "triggered".
        ("sh.keptn.event.release.triggered", {"status": "succeeded", "result": "fail"}, "triggered", "info"),
        ("sh.keptn.event.release.started", {}, "started", "info"),
        ("sh.keptn.event.release.status.changed", {}, "in progress", "info"),
        ("sh.keptn.event.evaluation.invalidated", {}, "invalidated", "warning"),
        ("sh.keptn.log.error", {"message": "boom"}, "error", "failure"),
        ("dev.tekton.event.pipelinerun.started.v1", {}, "received", "info"),
    ],
)
def test_outcome_and_severity_come_from_phase_status_and_result(
    event_type: str, data: dict[str, Any], outcome: str, severity: str
) -> None:
    context = template_context(make_event(event_type, data))
    assert (context["outcome"], context["severity"]) == (outcome, severity)


def test_bridge_links_quote_their_path_parts() -> None:
    data = {"project": "my project", "stage": "pre/prod"}
    context = template_context(make_event("sh.keptn.event.test.finished", data, shkeptncontext="a b/c"), BRIDGE)
    assert context["bridge"] == {
        "trace": "https://keptn.example.com/bridge/trace/a%20b%2Fc",
        "evaluation": "https://keptn.example.com/bridge/evaluation/a%20b%2Fc",
        "sequence": "https://keptn.example.com/bridge/project/my%20project/sequence/a%20b%2Fc/stage/pre%2Fprod",
    }


def test_no_bridge_links_without_a_bridge_url_or_a_keptn_context() -> None:
    data = {"project": "p", "stage": "s"}
    assert template_context(make_event("sh.keptn.event.test.finished", data))["bridge"] == {}
    no_context = make_event("sh.keptn.event.test.finished", data, shkeptncontext="")
    assert template_context(no_context, BRIDGE)["bridge"] == {}


def test_a_plain_cloudevent_gets_a_usable_context() -> None:
    event = make_event("dev.tekton.event.pipelinerun.successful.v1", {"pipelineRun": {}}, subject="run-1")
    context = template_context(event, BRIDGE)
    assert context["where"] == ""
    assert context["subject"] == "run-1"
    assert context["evaluation"] == {
        "present": False,
        "score": None,
        "result": "",
        "indicators": [],
        "failed": [],
        "time_start": "",
        "time_end": "",
        "compared_events": 0,
    }


def test_garbage_of_the_wrong_types_is_ignored() -> None:
    data = {
        "project": ["not", "a", "string"],
        "stage": {"nested": True},
        "service": 7,
        "labels": ["x"],
        "status": None,
        "evaluation": {
            "score": "NaN",
            "indicatorResults": [1, None, "x", {"value": "abc", "passTargets": "<600", "status": 3}],
            "comparedEvents": "x",
        },
        "problem": ["x"],
        "approval": None,
        "deployment": {"deploymentURIsPublic": "https://a.example.com", "deploymentNames": [1, None, "ok"]},
        "get-sli": {"indicatorValues": [{"value": float("inf")}]},
        "test": {"start": 5, "end": "yesterday"},
    }
    context = template_context(make_event("sh.keptn.event.test.finished", data), BRIDGE)
    assert (context["project"], context["stage"], context["service"]) == ("", "", "7")
    assert context["labels"] == {}
    evaluation = context["evaluation"]
    assert isinstance(evaluation, dict)
    assert evaluation["score"] is None
    assert evaluation["indicators"] == [
        {
            "name": "unnamed SLI",
            "metric": "",
            "status": "3",
            "value": "",
            "targets": "",
            "warning_targets": "",
            "key_sli": False,
            "message": "",
            "outcome": "no_status",
        }
    ]
    assert context["deployment"] == {
        "present": True,
        "strategy": "",
        "uris_public": [],
        "uris_local": [],
        "names": ["ok"],
        "image": "",
    }
    assert context["period"] == {"start": "5", "end": "yesterday", "duration": ""}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
keptn_keys = st.sampled_from(
    [
        "project",
        "stage",
        "service",
        "labels",
        "status",
        "result",
        "message",
        "evaluation",
        "problem",
        "approval",
        "deployment",
        "get-sli",
        "test",
        "configurationChange",
        "State",
        "ProblemTitle",
    ]
)
event_types = st.sampled_from(
    [
        "sh.keptn.event.evaluation.finished",
        "sh.keptn.event.approval.triggered",
        "sh.keptn.event.prod.remediation.triggered",
        "sh.keptn.events.problem",
        "sh.keptn.event.test.finished",
        "sh.keptn.log.error",
    ]
) | st.text(max_size=40)


@settings(max_examples=80, deadline=None)
@given(
    event_type=event_types,
    data=st.dictionaries(keptn_keys | st.text(max_size=8), json_values, max_size=8),
    extra=st.dictionaries(st.sampled_from(["shkeptncontext", "time", "subject", "triggeredid"]), json_values),
)
def test_template_context_never_raises(event_type: str, data: dict[str, Any], extra: dict[str, Any]) -> None:
    context = template_context(make_event(event_type, data, **extra), BRIDGE)
    assert context["severity"] in ("success", "info", "warning", "failure")
    assert isinstance(context["outcome"], str) and context["outcome"]


def test_template_context_survives_data_that_is_not_a_mapping() -> None:
    context = template_context(make_event("sh.keptn.event.test.finished", ["not", "a", "mapping"]))
    assert context["data"] == {}
    assert context["outcome"] == "finished"


# The nested parts of the context, in the order their `{...}` key lists appear in the row of docs/templates.md.
DOCUMENTED_PARTS: dict[str, tuple[Any, ...]] = {
    "kind": (KindFields,),
    "evaluation": (Evaluation, Indicator),
    "problem": (Problem,),
    "approval": (Approval,),
    "deployment": (Deployment,),
    "sli": (Sli, SliValue),
    "period": (Period,),
    "bridge": (BridgeLinks,),
    "labels_shown": (ShownLabels, LabelPair, LabelLink),
    "problem_info": (ProblemInfo,),
    "action": (ActionDetails,),
    "verdict": (VerdictContext,),
}


def keys_of(typed: Any) -> set[str]:
    return set(typed.__required_keys__ | typed.__optional_keys__)


def documented_context() -> dict[str, list[set[str]]]:
    """Each name in the table "What a template sees", with the key lists (`{a, b}`) its row gives."""
    section = TEMPLATES_DOC.read_text(encoding="utf-8").split("## What a template sees", 1)[1]
    table = section[section.index("\n| Name |") :].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    documented: dict[str, list[set[str]]] = {}
    for row in rows:
        names, what = row.strip("|").split(" | ", 1)
        parts = [set(re.split(r",\s*", keys)) for keys in re.findall(r"`\{([^}]+)\}`", what)]
        for name in re.findall(r"`([^`]+)`", names):
            documented[name] = parts
    return documented


def test_the_documented_context_is_the_typed_context() -> None:
    documented = documented_context()
    assert set(documented) == keys_of(TemplateContext)
    nested = {name for name, hint in get_type_hints(TemplateContext).items() if is_typeddict(hint)}
    assert nested == set(DOCUMENTED_PARTS)
    for name, parts in documented.items():
        assert parts == [keys_of(part) for part in DOCUMENTED_PARTS.get(name, ())], name


def test_a_rendered_context_has_exactly_the_typed_keys() -> None:
    data = {"project": "p", "stage": "s", "problem": {"ProblemTitle": "t"}, "evaluation": {"indicatorResults": [{}]}}
    context = template_context(make_event("sh.keptn.event.s.remediation.triggered", data), BRIDGE)
    assert set(context) == keys_of(TemplateContext)
    for name, parts in DOCUMENTED_PARTS.items():
        assert set(context[name]) == keys_of(parts[0]), name  # type: ignore[literal-required]
    assert set(context["evaluation"]["indicators"][0]) == keys_of(Indicator)
