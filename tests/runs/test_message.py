"""The run message: what the shipped runs look like at the end and on the way, and that it stays plain text."""

from __future__ import annotations

from dataclasses import replace

import pytest

from notifier.keptn.events import KeptnEvent
from notifier.keptn.values import parse_time
from notifier.message import Fact, Link, Severity
from notifier.render.slack import render_slack
from notifier.render.teams import render_teams
from notifier.runs.message import run_message
from notifier.runs.state import MAX_ERRORS, MAX_STAGES, run_of
from notifier.templating import load_samples_by_name
from tests.helpers import RUN_CONTEXT, run_event, shipped_run
from tests.payload_checks import assert_no_unescaped_control, assert_valid_slack_payload, assert_valid_teams_envelope

BRIDGE = "https://keptn.example.com/bridge/"
SAMPLES = load_samples_by_name()
PASSED_CONTEXT = "5c1f8e2a-7d3b-4a6e-9f02-8b4d6c1e3a57"
FAILED_CONTEXT = "a8e4d2c6-1f3b-4e5a-8c7d-9b0e2f4a6c18"


def test_the_passed_delivery_through_three_stages() -> None:
    message = run_message(run_of(shipped_run("delivery-passed")), BRIDGE)
    assert message.title == "✅ sockshop/carts: production delivery passed"
    assert message.severity is Severity.SUCCESS
    assert message.summary == "sockshop/carts: production delivery passed · dev → staging → production · 24m 34s"
    assert message.text.splitlines() == [
        "• dev ✅ passed — deployment passed, test passed, evaluation passed (score 100), get-sli passed, release passed",
        "• staging ✅ passed — deployment passed, test passed, evaluation passed (score 100), get-sli passed, "
        "release passed",
        "• production ✅ passed — approval passed, deployment passed, release passed",
    ]
    assert message.facts == (
        Fact("Project", "sockshop"),
        Fact("Service", "carts"),
        Fact("Evaluation score", "dev 100, staging 100"),
        Fact("Duration", "24m 34s"),
    )
    assert message.links == (Link("Run trace", f"https://keptn.example.com/bridge/trace/{PASSED_CONTEXT}"),)
    assert message.footer == f"Keptn context {PASSED_CONTEXT}"


def test_the_passed_delivery_while_production_waits_for_approval() -> None:
    events = shipped_run("delivery-passed")
    started = next(index for index, event in enumerate(events) if event.type == "sh.keptn.event.approval.started")
    message = run_message(run_of(events[: started + 1]))
    assert message.title == "✋ sockshop/carts: production delivery waiting for approval"
    assert message.severity is Severity.WARNING
    assert message.text.splitlines()[-1] == "• production ✋ waiting for approval — approval waiting for a human"
    assert Fact("Approval", "waiting in production") in message.facts
    assert "so far" in message.summary
    assert message.links == ()


def test_the_run_whose_evaluation_fails_in_staging() -> None:
    message = run_message(run_of(shipped_run("evaluation-failed")), BRIDGE)
    assert message.title == "❌ sockshop/carts: staging delivery failed"
    assert message.severity is Severity.FAILURE
    dev, staging = message.text.splitlines()
    assert dev.startswith("• dev ✅ passed — ")
    assert staging == (
        "• staging ❌ failed (delivery failed, rollback passed) — deployment passed, test passed, "
        'evaluation failed (score 33.33; "Evaluation failed since the calculated score of 33.33 is below the warning '
        'value of 75"), get-sli passed, rollback passed'
    )
    assert Fact("Evaluation score", "dev 100, staging 33.33") in message.facts
    assert Fact("Duration", "10m 9s") in message.facts
    assert message.links[0].url.endswith(f"/trace/{FAILED_CONTEXT}")


def test_a_failed_evaluation_shows_before_the_sequence_ends() -> None:
    events = shipped_run("evaluation-failed")
    evaluated = next(
        index
        for index, event in enumerate(events)
        if event.type == "sh.keptn.event.evaluation.finished" and event.stage == "staging"
    )
    message = run_message(run_of(events[: evaluated + 1]))
    # the worst state heads the message while the sequence still runs
    assert message.title == "❌ sockshop/carts: staging evaluation failed"
    assert message.severity is Severity.FAILURE
    assert message.text.splitlines()[-1].startswith(
        "• staging 🔄 running — deployment passed, test passed, evaluation failed"
    )


def test_a_timed_out_sequence_says_why_and_what_still_ran() -> None:
    state = run_of(
        [
            run_event("staging.delivery.triggered", time="2026-11-20T09:00:00Z"),
            run_event("test.started", time="2026-11-20T09:01:00Z"),
            run_event(
                "staging.delivery.finished",
                time="2026-11-20T10:01:00Z",
                status="errored",
                result="fail",
                message="sequence timed out",
            ),
        ]
    )
    message = run_message(state)
    assert message.title == "⏰ sockshop/carts: staging delivery timed out"
    assert message.text == '• staging ⏰ timed out ("sequence timed out") — test running'
    assert Fact("Duration", "1h 1m") in message.facts


def test_a_run_without_names_is_named_by_its_context() -> None:
    event = run_event("deployment.started", stage="")
    state = run_of([replace(event, data={})])
    message = run_message(state)
    assert message.title == f"🔄 Keptn run {RUN_CONTEXT[:8]}: deployment running"
    assert message.text == "• (no stage) 🔄 running — deployment running"


def test_past_the_stage_cap_the_message_says_stages_are_missing() -> None:
    events = [run_event(f"s{index:02d}.delivery.triggered", stage=f"s{index:02d}") for index in range(MAX_STAGES + 1)]
    lines = run_message(run_of(events)).text.splitlines()
    assert len(lines) == MAX_STAGES + 1
    assert lines[-1] == f"• … more stages than a run message keeps ({MAX_STAGES})"


def test_the_message_is_plain_text_and_the_renderers_escape_it() -> None:
    hostile = "<!channel> <https://evil.example|log in>"
    state = run_of(
        [
            run_event("deployment.finished", stage=hostile, project=hostile, status="errored", message=hostile),
            run_event("x.delivery.finished", stage=hostile, status="succeeded", result="pass"),
        ]
    )
    message = run_message(state, BRIDGE)
    assert "<!channel>" in message.title and "<!channel>" in message.text
    slack = render_slack(message)
    assert_valid_slack_payload(slack)
    assert_no_unescaped_control(slack)
    assert_valid_teams_envelope(render_teams(message))


def test_the_largest_run_message_still_renders_within_the_platform_limits() -> None:
    events = [
        run_event(
            f"task{task:02d}.finished", stage=f"stage-{stage:02d}-" + "s" * 60, status="errored", message="m" * 500
        )
        for stage in range(MAX_STAGES + 2)
        for task in range(14)
    ]
    message = run_message(run_of(events), BRIDGE)
    assert_valid_slack_payload(render_slack(message))
    assert_valid_teams_envelope(render_teams(message))


def test_the_same_state_gives_the_same_message() -> None:
    events = shipped_run("evaluation-failed")
    assert run_message(run_of(events), BRIDGE) == run_message(run_of(reversed(events)), BRIDGE)


def test_the_shipped_runs_are_one_context_each_with_their_triggeredid_links() -> None:
    for name in ("delivery-passed", "evaluation-failed"):
        events = shipped_run(name)
        assert len({event.keptn_context for event in events}) == 1, name
        triggered = {event.id: event.type.rsplit(".", 1)[0] for event in events if event.type.endswith(".triggered")}
        for event in events:
            if event.type.endswith((".started", ".finished")) and event.raw["triggeredid"]:
                assert triggered[event.raw["triggeredid"]] == event.type.rsplit(".", 1)[0], event.id
        times = [parse_time(event.time) for event in events]
        assert None not in times and times == sorted(times), name  # type: ignore[type-var]


def in_run(name: str, context: str = RUN_CONTEXT) -> KeptnEvent:
    """A shipped example event, moved into one run (its own context is that of another run)."""
    event = SAMPLES[name]
    return replace(event, raw={**event.raw, "shkeptncontext": context})


SEQUENCE = "production.delivery.triggered"
PASSED_DEV = [
    run_event("dev.delivery.triggered", stage="dev", time="2026-11-20T09:00:00Z"),
    run_event("dev.delivery.finished", stage="dev", time="2026-11-20T09:10:00Z", status="succeeded", result="pass"),
]


@pytest.mark.parametrize(
    ("events", "title", "severity"),
    [
        # problems: the problem's title, never "waiting"
        (
            [in_run("problem-open-spec")],
            "🚨 Problem open: Response Time Degradation (sockshop/carts in production)",
            Severity.FAILURE,
        ),
        (
            [in_run("remediation-triggered-dynatrace")],
            "🚨 Problem open: Response time degradation (sockshop/carts in production)",
            Severity.FAILURE,
        ),
        (
            [in_run("remediation-triggered-prometheus")],
            "🚨 Problem open: error_rate_high (sockshop/carts in production)",
            Severity.FAILURE,
        ),
        # resolved is for good, in either order
        (
            [in_run("problem-legacy-resolved"), in_run("remediation-triggered-dynatrace")],
            "✅ Problem resolved: Response time degradation (sockshop/carts in production)",
            Severity.SUCCESS,
        ),
        # the remediation ended: its outcome speaks
        (
            [
                in_run("remediation-triggered-prometheus"),
                run_event("production.remediation.finished", stage="production", status="succeeded", result="pass"),
            ],
            "✅ sockshop/carts: production remediation passed",
            Severity.SUCCESS,
        ),
        (
            [run_event("production.remediation.triggered", stage="production")],
            "🚨 sockshop/carts: production remediation started",
            Severity.FAILURE,
        ),
        # an error logged marks the run, unless something worse heads it
        ([in_run("log-error")], "💥 sockshop/carts: error in staging test", Severity.FAILURE),
        ([*PASSED_DEV, in_run("log-error")], "💥 sockshop/carts: error in staging test", Severity.FAILURE),
        (
            [in_run("log-error"), run_event("test.finished", status="errored", result="fail", message="OOMKilled")],
            "💥 sockshop/carts: staging test errored",
            Severity.FAILURE,
        ),
        # tasks and sequences: stage, sequence (or task) and state
        (PASSED_DEV, "✅ sockshop/carts: dev delivery passed", Severity.SUCCESS),
        ([in_run("evaluation-finished-fail")], "❌ sockshop/carts: staging evaluation failed", Severity.FAILURE),
        (
            [run_event("evaluation.finished", status="succeeded", result="warning")],
            "⚠️ sockshop/carts: staging evaluation warning",
            Severity.WARNING,
        ),
        ([in_run("sequence-finished-aborted")], "🛑 sockshop/carts: production delivery aborted", Severity.FAILURE),
        ([in_run("sequence-finished-timeout")], "⏰ sockshop/carts: staging delivery timed out", Severity.FAILURE),
        (
            [run_event(SEQUENCE, stage="production"), in_run("approval-triggered-manual")],
            "✋ sockshop/carts: production delivery waiting for approval",
            Severity.WARNING,
        ),
        ([in_run("approval-triggered-manual")], "✋ sockshop/carts: production waiting for approval", Severity.WARNING),
        ([run_event(SEQUENCE, stage="production")], "🔄 sockshop/carts: production delivery running", Severity.INFO),
        ([run_event("deployment.triggered")], "⏳ sockshop/carts: staging deployment waiting", Severity.INFO),
        # nothing known but the context: named by it, once
        ([in_run("project-create-finished")], f"⏳ Keptn run {RUN_CONTEXT[:8]}: waiting", Severity.INFO),
    ],
)
def test_the_headline_is_the_runs_worst_state_in_words(
    events: list[KeptnEvent], title: str, severity: Severity
) -> None:
    for order in (events, events[::-1]):
        message = run_message(run_of(order))
        assert (message.title, message.severity) == (title, severity)
        assert message.summary.startswith(title.split(" ", 1)[1])


def test_an_error_logged_in_a_run_is_a_line_of_its_own() -> None:
    message = run_message(run_of([*PASSED_DEV, in_run("log-error")]))
    assert message.text.splitlines() == [
        "• dev ✅ passed",
        "• 💥 error in staging test: job 'locust-smoke' failed: pod carts-locust-smoke-7x2kq exited with code 1 "
        "(OOMKilled)",
    ]


def test_past_the_error_cap_the_message_says_errors_are_missing() -> None:
    errors = [
        replace(in_run("log-error"), raw={**in_run("log-error").raw, "id": str(index)}, data={"message": f"e{index}"})
        for index in range(MAX_ERRORS + 2)
    ]
    lines = run_message(run_of(errors)).text.splitlines()
    assert lines == [f"• 💥 error logged: e{index}" for index in range(MAX_ERRORS)] + [
        f"• … more errors than a run message keeps ({MAX_ERRORS})"
    ]


def test_the_problem_is_the_first_line() -> None:
    message = run_message(run_of([in_run("remediation-triggered-dynatrace"), in_run("action-triggered")]))
    assert message.text.splitlines()[0] == "• problem: Response time degradation"
    resolved = run_message(run_of([in_run("remediation-triggered-dynatrace"), in_run("problem-legacy-resolved")]))
    assert resolved.text.splitlines()[0] == "• ✅ problem resolved: Response time degradation"
