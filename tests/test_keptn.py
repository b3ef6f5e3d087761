"""The Keptn layer: the type grammar and its traps, the template chain, and a context that never raises."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier import keptn
from notifier.events import KeptnEvent
from notifier.keptn import EventKind, classify, template_candidates, template_context

BRIDGE = "https://keptn.example.com/bridge/"


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


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("sh.keptn.event.deployment.triggered", EventKind("task", task="deployment", phase="triggered")),
        ("sh.keptn.event.get-sli.started", EventKind("task", task="get-sli", phase="started")),
        ("sh.keptn.event.evaluation.finished", EventKind("task", task="evaluation", phase="finished")),
        ("sh.keptn.event.evaluation.invalidated", EventKind("task", task="evaluation", phase="invalidated")),
        # Six parts, but a task's progress report, not a sequence named "status" in a stage.
        ("sh.keptn.event.test.status.changed", EventKind("task", task="test", phase="status.changed")),
        (
            "sh.keptn.event.dev.delivery.triggered",
            EventKind("sequence", stage="dev", sequence="delivery", phase="triggered"),
        ),
        (
            "sh.keptn.event.production.remediation.finished",
            EventKind("sequence", stage="production", sequence="remediation", phase="finished"),
        ),
        # Six parts, but project and service administration.
        ("sh.keptn.event.project.create.finished", EventKind("lifecycle", task="project.create", phase="finished")),
        ("sh.keptn.event.project.delete.triggered", EventKind("lifecycle", task="project.delete", phase="triggered")),
        ("sh.keptn.event.service.create.started", EventKind("lifecycle", task="service.create", phase="started")),
        ("sh.keptn.event.service.delete.finished", EventKind("lifecycle", task="service.delete", phase="finished")),
        ("sh.keptn.event.monitoring.configure", EventKind("lifecycle", task="monitoring.configure")),
        ("sh.keptn.events.problem", EventKind("problem")),
        ("sh.keptn.log.error", EventKind("log", phase="error")),
        # Sequences have no `.started`, and only evaluations are invalidated.
        ("sh.keptn.event.dev.delivery.started", EventKind("other")),
        ("sh.keptn.event.deployment.invalidated", EventKind("other")),
        ("sh.keptn.event.a.b.c.finished", EventKind("other")),
        ("sh.keptn.event..finished", EventKind("other")),
        ("sh.keptn.event", EventKind("other")),
        ("dev.tekton.event.pipelinerun.successful.v1", EventKind("other")),
        ("", EventKind("other")),
    ],
)
def test_classify_follows_the_type_grammar(event_type: str, expected: EventKind) -> None:
    assert classify(event_type) == expected


def test_a_remediation_triggered_event_is_a_problem_only_when_it_carries_one() -> None:
    event_type = "sh.keptn.event.production.remediation.triggered"
    assert classify(event_type).family == "sequence"
    assert classify(event_type, {"problem": {}}).family == "sequence"
    assert classify(event_type, {"problem": "text"}).family == "sequence"
    with_problem = classify(event_type, {"problem": {"ProblemTitle": "CPU saturation"}})
    assert with_problem == EventKind("problem", stage="production", sequence="remediation", phase="triggered")
    finished = classify("sh.keptn.event.production.remediation.finished", {"problem": {"State": "OPEN"}})
    assert finished.family == "sequence"


def test_classify_refuses_non_strings() -> None:
    assert classify(None).family == "other"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event_type", "chain"),
    [
        (
            "sh.keptn.event.evaluation.finished",
            ("sh.keptn.event.evaluation.finished", "task.finished", "default"),
        ),
        (
            "sh.keptn.event.test.status.changed",
            ("sh.keptn.event.test.status.changed", "task.status.changed", "default"),
        ),
        (
            "sh.keptn.event.production.remediation.triggered",
            (
                "sh.keptn.event.production.remediation.triggered",
                "sequence.remediation.triggered",
                "sequence.triggered",
                "default",
            ),
        ),
        ("sh.keptn.events.problem", ("sh.keptn.events.problem", "problem", "default")),
        ("sh.keptn.log.error", ("sh.keptn.log.error", "log.error", "default")),
        ("sh.keptn.event.service.create.finished", ("sh.keptn.event.service.create.finished", "lifecycle", "default")),
        ("dev.tekton.event.pipelinerun.started.v1", ("dev.tekton.event.pipelinerun.started.v1", "default")),
        ("", ("default",)),
    ],
)
def test_template_candidates_go_from_exact_type_to_default(event_type: str, chain: tuple[str, ...]) -> None:
    assert template_candidates(event_type) == chain


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
    }
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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T09:48:12.987654321Z", "2026-11-20T09:48:12.987654+00:00"),
        ("2026-11-20T10:48:12+01:00", "2026-11-20T09:48:12+00:00"),
        ("2026-11-20 09:48:12", "2026-11-20T09:48:12+00:00"),
        ("yesterday", None),
        ("2026-13-40T00:00:00Z", None),
        (12, None),
    ],
)
def test_parse_time_takes_nanoseconds_and_offsets(value: object, expected: str | None) -> None:
    parsed = keptn.parse_time(value)
    assert (parsed.isoformat() if parsed else None) == expected


def test_durations_read_like_a_person_would_write_them() -> None:
    assert keptn.duration_text("2026-11-20T09:42:40.1Z", "2026-11-20T09:48:12.987654321Z") == "5m 33s"
    assert keptn.duration_text("2026-11-20T09:00:00Z", "2026-11-20T11:05:00Z") == "2h 5m"
    assert keptn.duration_text("2026-11-20T09:00:00Z", "2026-11-20T09:00:07Z") == "7s"
    assert keptn.duration_text("2026-11-20T09:00:07Z", "2026-11-20T09:00:00Z") == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [(83.33333333333334, "83.33"), (100.0, "100"), (0.0, "0"), (-0.001, "-0.001"), (0.000123, "0.000123")],
)
def test_format_number_is_short_but_never_rounds_to_zero(value: float, expected: str) -> None:
    assert keptn.format_number(value) == expected
