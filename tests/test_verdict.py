"""Issue 9.1: never say "passed" when the event says otherwise.

The unit tests pin the rule (notifier.verdict).
"""

from __future__ import annotations

from typing import Any

import pytest

from notifier.message import Severity
from notifier.verdict import SliVerdict, headline, sli_verdict, worst_outcome

# ---- the rule, one field at a time -------------------------------------------------------------------------


def target(violated: bool) -> dict[str, Any]:
    return {"criteria": "<600", "targetValue": 0, "violated": violated}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"status": "pass"}, SliVerdict("passed", "pass")),
        ({"status": "PASS", "passTargets": [target(False)]}, SliVerdict("passed", "pass")),
        ({"status": "info"}, SliVerdict("informational", None)),
        ({"status": "warning"}, SliVerdict("missed", "warning")),
        ({"status": "fail"}, SliVerdict("missed", "fail")),
        ({"status": "failed"}, SliVerdict("missed", "fail")),
        ({"status": "error"}, SliVerdict("missed", "fail")),
        ({"status": ""}, SliVerdict("missed", "fail")),
        ({}, SliVerdict("missed", "fail")),
        ({"status": 3}, SliVerdict("missed", "fail")),
        ({"status": "skipped"}, SliVerdict("missed", "fail")),
        (
            {"status": "pass", "passTargets": [target(True)]},
            SliVerdict("missed", "fail", "pass, but a pass target is violated"),
        ),
        (
            {"status": "pass", "passTargets": [target(True)], "warningTargets": [target(False)]},
            SliVerdict("missed", "warning", "pass, but a pass target is violated"),
        ),
        (
            {"status": "info", "passTargets": [target(False), {"violated": "true"}]},
            SliVerdict("missed", "fail", "info, but a pass target is violated"),
        ),
    ],
)
def test_an_sli_passes_only_with_status_pass_or_info_and_no_violated_pass_target(
    item: dict[str, Any], expected: SliVerdict
) -> None:
    assert sli_verdict(item) == expected


def test_keptns_own_example_is_a_failure_that_says_the_fields_disagree() -> None:
    # The spec's evaluation.finished example: result pass, evaluation.result fail, one SLI "failed".
    data = {
        "status": "succeeded",
        "result": "pass",
        "evaluation": {"result": "fail", "score": 0, "indicatorResults": [{"status": "failed"}]},
    }
    worst = worst_outcome(data)
    assert worst.grade == "fail"
    assert worst.disagree
    assert (worst.passed, worst.informational, worst.missed) == (0, 0, 1)
    assert worst.note == (
        "The event's outcome fields disagree (result: pass; evaluation result: fail; SLIs: 1 of 1 missed). "
        "This message shows the worst: fail."
    )
    assert headline(worst, "succeeded", "") == ("failed", Severity.FAILURE, "❌")


@pytest.mark.parametrize(
    ("data", "grade", "disagree"),
    [
        # A failed quality gate is status=succeeded, result=fail: status says the task ran, nothing more.
        ({"status": "succeeded", "result": "fail"}, "fail", False),
        ({"status": "errored", "result": "fail"}, "fail", False),
        ({"status": "aborted", "result": "fail"}, "fail", False),
        ({"status": "aborted", "result": "pass"}, "warning", True),
        ({"status": "errored", "result": "pass"}, "fail", True),
        ({"result": "warning", "evaluation": {"result": "fail"}}, "fail", True),
        ({"result": "pass", "evaluation": {"result": "pass", "indicatorResults": [{"status": "pass"}]}}, "pass", False),
        ({"result": "pass", "evaluation": {"indicatorResults": [{"status": "warning"}]}}, "warning", True),
        ({"evaluation": {"indicatorResults": [{"status": "info"}]}}, None, False),
        ({"status": "succeeded"}, None, False),
        ({"result": "maybe"}, None, False),
        ({}, None, False),
    ],
)
def test_the_worst_field_wins(data: dict[str, Any], grade: str | None, disagree: bool) -> None:
    worst = worst_outcome(data)
    assert (worst.grade, worst.disagree) == (grade, disagree)
    assert bool(worst.note) is disagree


def test_headline_keeps_what_status_adds_without_softening_the_grade() -> None:
    timeout = worst_outcome({"status": "errored", "result": "fail"})
    assert headline(timeout, "errored", "sequence timed out") == ("timed out", Severity.FAILURE, "⏰")
    assert headline(timeout, "errored", "")[0:2] == ("errored", Severity.FAILURE)
    aborted = worst_outcome({"status": "aborted"})
    assert headline(aborted, "aborted", "")[0:2] == ("aborted", Severity.WARNING)
    aborted_failed = worst_outcome({"status": "aborted", "result": "fail"})
    assert headline(aborted_failed, "aborted", "")[0:2] == ("aborted", Severity.FAILURE)
    assert headline(worst_outcome({}), "", "") is None


def test_garbage_is_no_verdict() -> None:
    worst = worst_outcome({"result": ["pass"], "status": 7, "evaluation": {"result": None, "indicatorResults": "x"}})
    assert worst.grade is None and worst.claims == ()
