"""Issue 9.1: never say "passed" when the event says otherwise; issue 17: nor "failed" when nothing says so.

The unit tests pin the rule (notifier.verdict): the worst field wins, and an SLI's outcome is the worse of its
status and what its targets say as Keptn's lighthouse derives it. The property tests render any combination of
the outcome fields through the built-in templates and check that headline, severity, emoji, Teams colour, the
Result fact and the SLI counts all agree with the worst of them, and that a disagreement is said.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.keptn.events import event_from_mapping
from notifier.keptn.result import SliVerdict, result_of, sli_verdict, sli_verdicts, worst_outcome, worst_words
from notifier.message import Fact, Message, Severity
from notifier.render import render
from notifier.render.teams import SEVERITY_STYLE
from notifier.templating import TemplateSet

# ---- the rule, one field at a time -------------------------------------------------------------------------


def target(violated: bool) -> dict[str, Any]:
    return {"criteria": "<600", "targetValue": 0, "violated": violated}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"status": "pass"}, SliVerdict("passed", "pass")),
        ({"status": "PASS", "passTargets": [target(False)]}, SliVerdict("passed", "pass")),
        ({"status": "passed"}, SliVerdict("passed", "pass")),
        ({"status": "info"}, SliVerdict("informational", None)),
        ({"status": "info", "passTargets": [target(False)]}, SliVerdict("informational", None)),
        ({"status": "warning"}, SliVerdict("warned", "warning")),
        ({"status": "fail"}, SliVerdict("missed", "fail")),
        ({"status": "failed"}, SliVerdict("missed", "fail")),
        # Keptn never writes `error`; it is a failure, as `data.result: error` is.
        ({"status": "error"}, SliVerdict("missed", "fail")),
        ({"status": "error", "passTargets": [target(False)]}, SliVerdict("missed", "fail")),
        # Issue 17: no status (or a word that grades nothing) whose targets hold is no status, not a miss.
        ({"status": ""}, SliVerdict("no_status", None)),
        ({}, SliVerdict("no_status", None)),
        ({"status": 3}, SliVerdict("no_status", None)),
        ({"status": "skipped"}, SliVerdict("no_status", None)),
        (
            {"status": "", "passTargets": [target(False)], "warningTargets": [target(True)]},
            SliVerdict("no_status", None),
        ),
        # Lighthouse: pass criteria met is a pass, whatever the warning targets say.
        (
            {"status": "pass", "passTargets": [target(False)], "warningTargets": [target(True)]},
            SliVerdict("passed", "pass"),
        ),
        # A violated pass target: a warning when every warning target holds, else a failure.
        (
            {"status": "pass", "passTargets": [target(True)]},
            SliVerdict("missed", "fail", "pass, but a pass target is violated"),
        ),
        (
            {"status": "pass", "passTargets": [target(True)], "warningTargets": [target(False)]},
            SliVerdict("warned", "warning", "pass, but a pass target is violated"),
        ),
        (
            {"status": "pass", "passTargets": [target(True)], "warningTargets": [target(False), target(True)]},
            SliVerdict("missed", "fail", "pass, but a pass and a warning target are violated"),
        ),
        (
            {"status": "info", "passTargets": [target(False), {"violated": "true"}]},
            SliVerdict("missed", "fail", "info, but a pass target is violated"),
        ),
        (
            {"passTargets": [target(True)], "warningTargets": [target(False)]},
            SliVerdict("warned", "warning", "no status, but a pass target is violated"),
        ),
        (
            {"status": "warning", "passTargets": [target(True)], "warningTargets": [target(True)]},
            SliVerdict("missed", "fail", "warning, but a pass and a warning target are violated"),
        ),
        # The status is worse than the targets: it stands.
        ({"status": "warning", "passTargets": [target(False)]}, SliVerdict("warned", "warning")),
        (
            {"status": "fail", "passTargets": [target(True)], "warningTargets": [target(False)]},
            SliVerdict("missed", "fail"),
        ),
    ],
)
def test_an_sli_is_the_worse_of_its_status_and_its_targets(item: dict[str, Any], expected: SliVerdict) -> None:
    assert sli_verdict(item) == expected


def test_keptns_warning_with_score_75_is_not_a_failure_on_the_notifiers_own_reading() -> None:
    """Nothing stated or derived is a failure: the gate is a warning, and the counts say what each SLI did."""
    data = {
        "result": "warning",
        "evaluation": {
            "result": "warning",
            "score": 75,
            "indicatorResults": [
                {"status": "pass", "passTargets": [target(False)]},
                {"status": "pass", "passTargets": [target(True)], "warningTargets": [target(False)]},
                {"status": "", "passTargets": [target(False)]},
                {"status": "info"},
            ],
        },
    }
    worst = worst_outcome(data)
    assert worst.grade == "warning" and not worst.disagree
    assert (worst.passed, worst.warned, worst.missed, worst.no_status, worst.informational) == (1, 1, 0, 1, 1)
    assert worst_words(worst, "succeeded", "") == ("warning", Severity.WARNING, "⚠️")
    assert result_of(data) == "warning"


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
    assert worst_words(worst, "succeeded", "") == ("failed", Severity.FAILURE, "❌")


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
        ({"result": "pass", "evaluation": {"indicatorResults": [{"status": ""}]}}, "pass", False),
        ({"status": "succeeded"}, None, False),
        ({"result": "maybe"}, None, False),
        ({}, None, False),
    ],
)
def test_the_worst_field_wins(data: dict[str, Any], grade: str | None, disagree: bool) -> None:
    worst = worst_outcome(data)
    assert (worst.grade, worst.disagree) == (grade, disagree)
    assert bool(worst.note) is disagree


def test_verdicts_read_once_give_the_same_outcome() -> None:
    """The template context reads the SLI verdicts once and hands them to `worst_outcome`: the same answer."""
    indicators = [
        {"status": "pass", "passTargets": [{"violated": True}], "warningTargets": [{"violated": False}]},
        {"status": "info"},
        "not an object",
        {"status": "fail"},
    ]
    data = {"result": "pass", "evaluation": {"result": "warning", "indicatorResults": indicators}}
    slis = sli_verdicts(data)
    assert [sli.counted for sli in slis] == ["warned", "informational", "missed"]
    given_once = worst_outcome(data, slis)
    assert given_once == worst_outcome(data)
    assert given_once.as_context()["disagree"] is given_once.disagree is True


def test_headline_keeps_what_status_adds_without_softening_the_grade() -> None:
    timeout = worst_outcome({"status": "errored", "result": "fail"})
    assert worst_words(timeout, "errored", "sequence timed out") == ("timed out", Severity.FAILURE, "⏰")
    assert worst_words(timeout, "errored", "")[0:2] == ("errored", Severity.FAILURE)
    aborted = worst_outcome({"status": "aborted"})
    assert worst_words(aborted, "aborted", "")[0:2] == ("aborted", Severity.WARNING)
    aborted_failed = worst_outcome({"status": "aborted", "result": "fail"})
    assert worst_words(aborted_failed, "aborted", "")[0:2] == ("aborted", Severity.FAILURE)
    assert worst_words(worst_outcome({}), "", "") is None


def test_garbage_is_no_verdict() -> None:
    worst = worst_outcome({"result": ["pass"], "status": 7, "evaluation": {"result": None, "indicatorResults": "x"}})
    assert worst.grade is None and worst.claims == ()


# ---- the property: whatever the fields say, the message agrees with the worst of them ---------------------

GRADE: dict[str, int] = {"pass": 0, "passed": 0, "warning": 1, "fail": 2, "failed": 2, "failure": 2, "error": 2}
SEVERITY_OF = {0: Severity.SUCCESS, 1: Severity.WARNING, 2: Severity.FAILURE}
WORD_OF = {0: "pass", 1: "warning", 2: "fail"}
HEADLINE_WORDS = {
    0: ("passed", "succeeded"),
    1: ("warning", "aborted"),
    2: ("failed", "errored", "timed out", "aborted"),
}


def sli_grade(item: dict[str, Any]) -> tuple[str, int | None]:
    """The issues' rule, written out independently of notifier.verdict: (how it counts, its grade)."""
    status = item.get("status")
    status = status.lower() if isinstance(status, str) else ""
    stated = GRADE.get(status)
    derived = None
    if item["passTargets"]:
        if not any(t["violated"] for t in item["passTargets"]):
            derived = 0
        elif item["warningTargets"] and not any(t["violated"] for t in item["warningTargets"]):
            derived = 1
        else:
            derived = 2
    if stated is None and derived in (None, 0):
        return ("informational" if status == "info" else "no_status"), None
    grade = max(grade for grade in (stated, derived) if grade is not None)
    return ("passed", "warned", "missed")[grade], grade


def expectation(data: dict[str, Any]) -> tuple[int | None, bool, dict[str, int]]:
    """(worst grade or None, do the fields disagree, SLI counts) for generated data."""
    claims: list[tuple[str, int]] = []
    if str(data.get("result")).lower() in GRADE:
        claims.append(("result", GRADE[str(data["result"]).lower()]))
    if data.get("status") in ("errored", "aborted"):
        claims.append(("status", 2 if data["status"] == "errored" else 1))
    evaluation = data.get("evaluation", {})
    if str(evaluation.get("result")).lower() in GRADE:
        claims.append(("evaluation", GRADE[str(evaluation["result"]).lower()]))
    slis = [sli_grade(item) for item in evaluation.get("indicatorResults", [])]
    kinds = ("passed", "warned", "missed", "informational", "no_status")
    counts = {kind: sum(1 for counted, _ in slis if counted == kind) for kind in kinds}
    graded = [grade for _, grade in slis if grade is not None]
    if graded:
        claims.append(("slis", max(graded)))
    grades = {grade for _, grade in claims}
    outcomes = {grade for field, grade in claims if field != "status"}
    disagree = (0 in grades and len(grades) > 1) or len(outcomes) > 1
    return (max(grades) if grades else None), disagree, counts


outcome_words = st.sampled_from(["pass", "warning", "fail", "failed", "error", "PASS", "", "maybe"])
targets = st.lists(
    st.builds(lambda violated: {"criteria": "<600", "targetValue": 0, "violated": violated}, st.booleans()),
    max_size=2,
)
indicators = st.lists(
    st.fixed_dictionaries(
        {
            "status": st.sampled_from(["pass", "warning", "fail", "failed", "info", "error", "", "Pass", "skipped"])
            | st.none(),
            "passTargets": targets,
            "warningTargets": targets,
            "value": st.just({"metric": "m", "value": 1.5, "success": True}),
        }
    ),
    max_size=6,
)


@st.composite
def outcome_data(draw: st.DrawFn, with_evaluation: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"project": "sockshop", "stage": "dev", "service": "carts"}
    for key, values in (
        ("result", outcome_words),
        ("status", st.sampled_from(["succeeded", "errored", "aborted", "unknown", ""])),
        ("message", st.sampled_from(["", "sequence timed out", "all good"])),
    ):
        if draw(st.booleans()):
            data[key] = draw(values)
    if with_evaluation or draw(st.booleans()):
        evaluation: dict[str, Any] = {"score": draw(st.sampled_from([0, 50, 83.33333333333334, 100]))}
        if draw(st.booleans()):
            evaluation["result"] = draw(outcome_words)
        items = draw(indicators)
        for number, item in enumerate(items):
            item["displayName"] = f"SLI {number}"
        evaluation["indicatorResults"] = items
        data["evaluation"] = evaluation
    return data


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet(None)


def rendered(templates: TemplateSet, event_type: str, data: dict[str, Any]) -> Message:
    raw = {"specversion": "1.0", "id": "p-1", "source": "test", "type": event_type, "data": data}
    return templates.render(event_from_mapping(raw))


def assert_agrees_with_the_worst(message: Message, data: dict[str, Any]) -> None:
    worst, disagree, _ = expectation(data)
    title = message.title.lower()
    card = render("teams", message)["attachments"][0]["content"]
    if worst is None:
        assert message.severity in (Severity.SUCCESS, Severity.INFO), message
        return
    assert message.severity is SEVERITY_OF[worst], (message.title, data)
    assert card["body"][0]["style"] == SEVERITY_STYLE[SEVERITY_OF[worst]]  # the Teams colour bar
    assert any(word in title for word in HEADLINE_WORDS[worst]), (message.title, data)
    if worst:
        assert "✅" not in message.title and "passed" not in title and "succeeded" not in title, (message.title, data)
    assert Fact("Result", WORD_OF[worst]) in message.facts, (message.facts, data)
    assert ("disagree" in message.text) is disagree, (message.text, data)


@settings(max_examples=300, deadline=None)
@given(data=outcome_data(with_evaluation=True))
def test_the_evaluation_message_agrees_with_the_worst_field(templates: TemplateSet, data: dict[str, Any]) -> None:
    message = rendered(templates, "sh.keptn.event.evaluation.finished", data)
    assert message.template == "sh.keptn.event.evaluation.finished"
    assert_agrees_with_the_worst(message, data)
    worst, _, counts = expectation(data)
    total = len(data["evaluation"]["indicatorResults"])
    for kind, heading in (
        ("missed", "SLIs missed their pass criteria:"),
        ("warned", "SLIs only met their warning criteria:"),
        ("no_status", "SLIs had no status:"),
    ):
        if counts[kind]:
            assert f"\n{counts[kind]} of {total} {heading}" in f"\n{message.text}", message.text
        else:
            assert heading not in message.text, message.text
    bullets = message.text.count("\n• ") + message.text.startswith("• ")
    shown = sum(min(counts[kind], 10) for kind in ("missed", "warned", "no_status", "informational"))
    assert bullets == shown, message.text
    all_passed = (
        counts["passed"] > 0 and worst == 0 and not (counts["missed"] or counts["warned"] or counts["no_status"])
    )
    assert ("All " in message.text) is all_passed, message.text
    assert ("Informational" in message.text) is (counts["informational"] > 0), message.text
    context = worst_outcome(data).as_context()
    assert {kind: context[kind] for kind in counts} == counts


@settings(max_examples=200, deadline=None)
@given(data=outcome_data(with_evaluation=False))
def test_the_generic_task_finished_message_agrees_with_the_worst_field(
    templates: TemplateSet, data: dict[str, Any]
) -> None:
    message = rendered(templates, "sh.keptn.event.release.finished", data)
    assert message.template == "task.finished"
    assert_agrees_with_the_worst(message, data)


@settings(max_examples=400, deadline=None)
@given(data=outcome_data(with_evaluation=False))
def test_the_result_routes_compare_is_the_worst_claim_but_status(data: dict[str, Any]) -> None:
    """`result_of` stops at the first failure instead of collecting every claim: the same answer."""
    grades = [claim.grade for claim in worst_outcome(data).claims if claim.field != "status"]
    expected = max(grades, key=["pass", "warning", "fail"].index) if grades else str(data.get("result", "")).lower()
    assert result_of(data) == expected
