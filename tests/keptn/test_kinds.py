"""Event kinds: the type grammar and its traps, and the template chain."""

from __future__ import annotations

import pytest

from notifier.keptn.kinds import EventKind, classify, template_candidates


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
