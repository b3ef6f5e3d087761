"""The run-state model: which stage and task shows which outcome, in any arrival order, within its caps."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import replace

import orjson
import pytest

from notifier.keptn.events import KeptnEvent
from notifier.message import Severity
from notifier.runs.state import (
    MAX_ERRORS,
    MAX_MESSAGE,
    MAX_NAME,
    MAX_SEQUENCES,
    MAX_STAGES,
    MAX_TASKS,
    Alert,
    Ending,
    Focus,
    LogError,
    Outcome,
    ProblemState,
    Progress,
    RunState,
    RunStateError,
    SequenceState,
    StageState,
    TaskState,
    needs_a_person,
    run_of,
)
from tests.helpers import RUN_CONTEXT, run_event


def every_order(events: list[KeptnEvent]) -> Iterable[RunState]:
    for order in itertools.permutations(events):
        yield run_of(order)


def only_state(events: list[KeptnEvent]) -> RunState:
    """The state the events give, after checking that every arrival order gives that same state."""
    states = set(every_order(events))
    assert len(states) == 1, states
    return states.pop()


def task_of(state: RunState, stage: str, task: str) -> TaskState:
    [found] = [item for item in stage_of(state, stage).tasks if item.name == task]
    return found


def stage_of(state: RunState, name: str) -> StageState:
    [found] = [stage for stage in state.stages if stage.name == name]
    return found


@pytest.mark.parametrize(
    ("events", "shown"),
    [
        ([run_event("deployment.triggered")], Progress.WAITING),
        ([run_event("deployment.triggered"), run_event("deployment.started")], Progress.RUNNING),
        ([run_event("test.status.changed", message="60 %")], Progress.RUNNING),
        (
            [run_event("test.started"), run_event("test.finished", status="succeeded", result="pass")],
            Outcome.PASSED,
        ),
        # A .finished without its .triggered (lost, or not subscribed) still says how the task ended.
        ([run_event("deployment.finished", status="succeeded", result="pass")], Outcome.PASSED),
        ([run_event("evaluation.finished", status="succeeded", result="warning")], Outcome.WARNING),
        # A failed quality gate: the task ran (succeeded) and its outcome is fail.
        ([run_event("evaluation.finished", status="succeeded", result="fail")], Outcome.FAILED),
        (
            [run_event("deployment.finished", status="errored", result="fail", message="helm: timeout")],
            Outcome.TIMED_OUT,
        ),
        (
            [run_event("deployment.finished", status="errored", result="fail", message="helm upgrade failed")],
            Outcome.ERRORED,
        ),
        ([run_event("deployment.finished", status="aborted", result="fail")], Outcome.ABORTED),
        ([run_event("test.finished", status="unknown")], Outcome.UNKNOWN),
        ([run_event("test.finished")], Outcome.UNKNOWN),
        # Fields that disagree: the worst wins, never a pass.
        ([run_event("test.finished", status="errored", result="pass")], Outcome.ERRORED),
        (
            [run_event("evaluation.finished", status="succeeded", result="pass", evaluation={"result": "fail"})],
            Outcome.FAILED,
        ),
        ([run_event("evaluation.finished", result="pass", evaluation={"result": "warning"})], Outcome.WARNING),
        # Two executors answered one task: the worse answer wins.
        (
            [
                run_event("test.finished", status="succeeded", result="pass", event_id="a"),
                run_event("test.finished", status="succeeded", result="fail", event_id="b"),
            ],
            Outcome.FAILED,
        ),
        ([run_event("evaluation.invalidated")], Outcome.UNKNOWN),
    ],
)
def test_which_task_shows_which_outcome_in_any_order(events: list[KeptnEvent], shown: Outcome | Progress) -> None:
    state = only_state(events)
    [stage] = state.stages
    [task] = stage.tasks
    assert task.shown is shown


def test_a_triggered_event_carries_the_previous_result_and_is_not_an_outcome() -> None:
    # Keptn copies the result so far into the next .triggered; a rollback is triggered with result=fail.
    state = only_state([run_event("rollback.triggered", status="succeeded", result="fail")])
    assert task_of(state, "staging", "rollback").shown is Progress.WAITING
    assert state.severity is Severity.INFO


@pytest.mark.parametrize(
    ("result", "strategies", "shown", "once_started"),
    [
        ("pass", {"pass": "manual", "warning": "manual"}, Progress.WAITING_FOR_APPROVAL, Progress.WAITING_FOR_APPROVAL),
        (
            "warning",
            {"pass": "automatic", "warning": "manual"},
            Progress.WAITING_FOR_APPROVAL,
            Progress.WAITING_FOR_APPROVAL,
        ),
        ("pass", {"pass": "automatic", "warning": "manual"}, Progress.WAITING, Progress.RUNNING),
        ("pass", {}, Progress.WAITING, Progress.RUNNING),
    ],
)
def test_an_approval_waits_for_a_human_only_for_a_manual_strategy(
    result: str, strategies: dict[str, str], shown: Progress, once_started: Progress
) -> None:
    triggered = run_event("approval.triggered", stage="production", result=result, approval=strategies)
    assert task_of(only_state([triggered]), "production", "approval").shown is shown
    started = run_event("approval.started", stage="production", time="2026-11-20T09:40:01Z")
    state = only_state([triggered, started])
    assert task_of(state, "production", "approval").shown is once_started
    assert (state.shown is Progress.WAITING_FOR_APPROVAL) == (shown is Progress.WAITING_FOR_APPROVAL)
    finished = run_event("approval.finished", stage="production", status="succeeded", result="pass")
    approved = only_state([triggered, started, finished])
    assert task_of(approved, "production", "approval").shown is Outcome.PASSED
    assert approved.shown is Progress.RUNNING


def test_a_waiting_approval_makes_the_run_a_warning() -> None:
    state = only_state(
        [
            run_event("production.delivery.triggered", stage="production"),
            run_event("approval.triggered", stage="production", result="pass", approval={"pass": "manual"}),
        ]
    )
    assert state.shown is Progress.WAITING_FOR_APPROVAL
    assert stage_of(state, "production").shown is Progress.WAITING_FOR_APPROVAL
    assert state.severity is Severity.WARNING


def test_a_stage_is_over_only_when_its_sequence_finished() -> None:
    triggered = run_event("staging.delivery.triggered", time="2026-11-20T09:40:00Z")
    deployed = run_event("deployment.finished", status="succeeded", result="pass", time="2026-11-20T09:42:00Z")
    running = only_state([triggered, deployed])
    assert stage_of(running, "staging").shown is Progress.RUNNING
    assert (running.shown, running.done, running.severity) == (Progress.RUNNING, False, Severity.INFO)
    finished = run_event("staging.delivery.finished", status="succeeded", result="pass", time="2026-11-20T09:50:00Z")
    over = only_state([triggered, deployed, finished])
    assert (over.shown, over.done, over.severity) == (Outcome.PASSED, True, Severity.SUCCESS)
    # Without its .triggered, the .finished alone ends the stage.
    assert only_state([finished, deployed]).shown is Outcome.PASSED


def test_a_sequence_that_passed_does_not_hide_a_task_that_failed() -> None:
    state = only_state(
        [
            run_event("evaluation.finished", status="succeeded", result="fail"),
            run_event("staging.delivery.finished", status="succeeded", result="pass"),
        ]
    )
    assert stage_of(state, "staging").shown is Outcome.FAILED
    assert (state.shown, state.severity) == (Outcome.FAILED, Severity.FAILURE)


def test_a_failure_in_a_running_run_shows_as_failure_before_the_run_ends() -> None:
    state = only_state(
        [
            run_event("staging.delivery.triggered"),
            run_event("evaluation.finished", status="succeeded", result="fail"),
        ]
    )
    assert state.shown is Progress.RUNNING
    assert state.severity is Severity.FAILURE


def test_task_events_alone_never_make_a_run_look_finished() -> None:
    # With only task events subscribed no event says the stage is over: the tasks show, the run still runs.
    state = only_state([run_event("evaluation.finished", status="succeeded", result="pass")])
    assert stage_of(state, "staging").shown is Outcome.PASSED
    assert (state.done, state.shown, state.severity) == (False, Progress.RUNNING, Severity.INFO)


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ({"status": "errored", "result": "fail", "message": "sequence timed out"}, Outcome.TIMED_OUT),
        ({"status": "aborted", "result": "fail", "message": "sequence aborted by user"}, Outcome.ABORTED),
        ({"status": "succeeded", "result": "warning"}, Outcome.WARNING),
    ],
)
def test_how_a_sequence_ends(data: dict[str, str], shown: Outcome) -> None:
    state = only_state(
        [
            run_event("staging.delivery.triggered"),
            run_event("test.started"),
            run_event("staging.delivery.finished", **data),
        ]
    )
    assert state.done and state.shown is shown and stage_of(state, "staging").shown is shown
    # The test never finished: it still shows as running in its line.
    assert task_of(state, "staging", "test").shown is Progress.RUNNING
    assert state.severity is (Severity.WARNING if shown is Outcome.WARNING else Severity.FAILURE)


def test_every_stage_must_be_over_for_the_run_to_be_over() -> None:
    dev = run_event(
        "dev.delivery.finished", stage="dev", status="succeeded", result="pass", time="2026-11-20T09:00:00Z"
    )
    staging = run_event("staging.delivery.triggered", time="2026-11-20T09:01:00Z")
    assert run_of([dev]).done
    state = only_state([dev, staging])
    assert (state.done, state.shown) == (False, Progress.RUNNING)
    # Stages in the order the run reached them, whatever order their events arrived in.
    assert [stage.name for stage in run_of([staging, dev]).stages_in_order()] == ["dev", "staging"]


def test_the_worst_stage_decides_the_run() -> None:
    state = only_state(
        [
            run_event("dev.delivery.finished", stage="dev", status="succeeded", result="pass"),
            run_event("staging.delivery.finished", status="succeeded", result="warning"),
            run_event("staging.rollback.finished", status="succeeded", result="pass"),
        ]
    )
    assert (state.shown, state.severity) == (Outcome.WARNING, Severity.WARNING)
    assert [sequence.name for sequence in stage_of(state, "staging").sequences] == ["delivery", "rollback"]


def test_project_service_score_and_duration() -> None:
    state = only_state(
        [
            run_event("staging.delivery.triggered", time="2026-11-20T09:40:57.883541123Z"),
            run_event(
                "evaluation.finished",
                time="2026-11-20T09:47:02.112Z",
                status="succeeded",
                result="pass",
                evaluation={"result": "pass", "score": 83.33333333333334},
            ),
            run_event("test.finished", time="not a time", status="succeeded", result="pass"),
        ]
    )
    assert (state.project, state.service) == ("sockshop", "carts")
    assert task_of(state, "staging", "evaluation").score == 83.33
    assert state.first_time == "2026-11-20T09:40:57.883541Z"
    assert state.duration_seconds == pytest.approx(364.228459)
    # An event without a usable time still counts; it just adds nothing to the duration.
    assert task_of(state, "staging", "test").first_time == ""


def test_the_lowest_score_wins_when_a_stage_evaluates_twice() -> None:
    events = [
        run_event("evaluation.finished", result="pass", evaluation={"score": 100}, event_id="a"),
        run_event("evaluation.finished", result="warning", evaluation={"score": 62.5}, event_id="b"),
    ]
    assert task_of(only_state(events), "staging", "evaluation").score == 62.5


def test_applying_an_event_twice_is_applying_it_once() -> None:
    event = run_event("deployment.finished", status="errored", result="fail", message="helm upgrade failed")
    once = run_of([event])
    assert once.apply(event) == once
    assert once.merge(once) == once


def test_an_event_of_another_run_is_refused_with_a_reason() -> None:
    state = run_of([run_event("deployment.started")])
    with pytest.raises(RunStateError, match="belongs to Keptn context 'other', not to the run"):
        state.apply(run_event("deployment.finished", context="other"))
    with pytest.raises(RunStateError, match="at least one event"):
        run_of([])


def test_events_that_are_not_about_a_stage_change_nothing() -> None:
    state = run_of([run_event("deployment.started")])
    log = run_event("deployment.started").raw | {"type": "sh.keptn.log.info"}
    lifecycle = run_event("project.create.finished").raw
    for raw in (log, lifecycle):
        event = KeptnEvent(str(raw["id"]), "test", str(raw["type"]), "1.0", raw["data"], raw)
        assert state.apply(event) == state


def log_error(message: str, **data: object) -> KeptnEvent:
    raw = run_event("deployment.started", message=message, task="deployment", **data).raw
    raw |= {"type": "sh.keptn.log.error", "id": message}
    return KeptnEvent(str(raw["id"]), "test", str(raw["type"]), "1.0", raw["data"], raw)


def test_an_error_logged_is_kept_with_where_it_was_logged_and_up_to_a_cap() -> None:
    state = only_state([run_event("deployment.started"), log_error("helm failed"), log_error("helm failed")])
    assert state.errors == (LogError("staging", "deployment", "helm failed"),)
    assert state.severity is Severity.FAILURE
    assert state.focus == Focus(Alert.ERROR_LOGGED, "staging", "deployment")
    many = [log_error(f"error {index}") for index in range(MAX_ERRORS + 2)]
    capped = run_of(many)
    assert capped == run_of(reversed(many))
    assert [error.message for error in capped.errors] == [f"error {index}" for index in range(MAX_ERRORS)]
    assert capped.more_errors


def problem(state: str, title: str = "Response time degradation", event_id: str = "") -> KeptnEvent:
    raw = run_event("x", stage="production", event_id=event_id or state).raw
    raw["type"] = "sh.keptn.events.problem"
    raw["data"] |= {"State": state, "ProblemTitle": title}
    return KeptnEvent(str(raw["id"]), "test", str(raw["type"]), "1.0", raw["data"], raw)


def test_a_problem_is_open_until_an_event_says_it_is_resolved_in_any_order() -> None:
    opened = problem("OPEN")
    remediation = run_event("production.remediation.triggered", stage="production", problem={"State": "OPEN"})
    state = only_state([opened, remediation])
    assert state.problem == ProblemState("Response time degradation", "production", open=True)
    assert (state.focus, state.severity) == (Focus(Alert.PROBLEM_OPEN, "production"), Severity.FAILURE)
    # the remediation's stage shows it running; the problem heads the run
    assert stage_of(state, "production").shown is Progress.RUNNING
    resolved = only_state([opened, remediation, problem("RESOLVED")])
    assert resolved.problem == ProblemState("Response time degradation", "production", open=True, resolved=True)
    assert (resolved.focus.state, resolved.severity) == (Alert.PROBLEM_RESOLVED, Severity.SUCCESS)
    # without a problem, a remediation that runs is the alarm
    assert only_state([remediation]).focus == Focus(Alert.PROBLEM_OPEN, "production")
    bare = run_event("production.remediation.triggered", stage="production")
    assert only_state([bare]).focus == Focus(Alert.REMEDIATION, "production", "remediation")
    ended = run_event("production.remediation.finished", stage="production", status="succeeded", result="pass")
    assert only_state([opened, bare, ended]).focus == Focus(Outcome.PASSED, "production", "remediation")


@pytest.mark.parametrize(
    ("event", "needs"),
    [
        (problem("OPEN"), Alert.PROBLEM_OPEN),
        (problem("RESOLVED"), None),
        (problem(""), None),
        (run_event("production.remediation.triggered", stage="production"), Alert.REMEDIATION),
        (run_event("production.remediation.triggered", problem={"ProblemTitle": "cpu"}), Alert.PROBLEM_OPEN),
        (run_event("production.remediation.triggered", problem={"State": "RESOLVED"}), None),
        (log_error("boom"), Alert.ERROR_LOGGED),
        (run_event("evaluation.finished", status="succeeded", result="fail"), Outcome.FAILED),
        (run_event("evaluation.finished", result="pass", evaluation={"result": "warning"}), Outcome.WARNING),
        (run_event("test.finished", status="succeeded", result="warning"), None),
        (run_event("deployment.finished", status="errored", message="helm: timeout"), Outcome.TIMED_OUT),
        (run_event("staging.delivery.finished", status="aborted"), Outcome.ABORTED),
        (run_event("staging.delivery.finished", status="succeeded", result="pass"), None),
        # a .triggered carries the previous task's result; a .started says nothing about how a task ends
        (run_event("rollback.triggered", result="fail"), None),
        (run_event("test.started", status="errored"), None),
        (run_event("approval.triggered", result="pass", approval={"pass": "manual"}), Progress.WAITING_FOR_APPROVAL),
        (run_event("approval.triggered", result="pass", approval={"pass": "automatic"}), None),
    ],
)
def test_what_needs_a_person_is_what_heads_a_run_of_that_event_alone(event: KeptnEvent, needs: object) -> None:
    assert needs_a_person(event) == needs
    if needs is not None:
        assert run_of([event]).focus.state == needs


# -- the JSON document --------------------------------------------------------------------------------------------


def test_the_state_round_trips_through_json() -> None:
    state = run_of(
        [
            run_event("staging.delivery.triggered"),
            run_event("approval.triggered", result="pass", approval={"pass": "manual"}),
            run_event(
                "evaluation.finished",
                status="errored",
                result="fail",
                message="no SLI provider",
                evaluation={"score": 0},
            ),
            run_event("evaluation.invalidated"),
            problem("OPEN"),
            log_error("no SLI provider"),
        ]
    )
    document = state.to_json()
    loaded = orjson.loads(document)
    assert loaded["version"] == 1 and loaded["context"] == RUN_CONTEXT
    assert loaded["problem"]["open"] and loaded["errors"][0]["message"] == "no SLI provider"
    assert RunState.from_json(document) == state
    assert RunState.from_json(document.decode()).to_json() == document


def test_a_document_written_before_problems_and_errors_were_kept_still_loads() -> None:
    state = run_of([run_event("staging.delivery.triggered")])
    document = orjson.loads(state.to_json())
    for key in ("problem", "errors", "more_errors"):
        del document[key]
    assert RunState.from_json(orjson.dumps(document)) == state


def test_a_document_from_elsewhere_is_made_canonical() -> None:
    state = run_of(
        [run_event("dev.delivery.triggered", stage="dev"), run_event("staging.delivery.triggered", stage="staging")]
    )
    document = orjson.loads(state.to_json())
    document["stages"].reverse()
    assert RunState.from_json(orjson.dumps(document)) == state


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "version None"),
        (b'{"version": 2, "context": "c"}', "version 2; this notifier reads version 1"),
        (b'{"version": 1}', "malformed at context: Field required"),
        (
            b'{"version": 1, "context": "c", "stages": [{"name": "s", "tasks": [{"name": "t", "ending": {"outcome": "great"}}]}]}',
            "malformed at stages.0.tasks.0.ending.outcome",
        ),
    ],
)
def test_a_bad_document_gets_a_clear_error(document: bytes, message: str) -> None:
    with pytest.raises(RunStateError, match=message):
        RunState.from_json(document)


# -- the caps -----------------------------------------------------------------------------------------------------


def test_past_the_stage_cap_the_alphabetically_first_stages_are_kept_in_any_order() -> None:
    names = [f"stage-{index:02d}" for index in range(MAX_STAGES + 3)]
    events = [run_event(f"{name}.delivery.triggered", stage=name) for name in names]
    forward, backward = run_of(events), run_of(reversed(events))
    assert forward == backward
    assert [stage.name for stage in forward.stages] == names[:MAX_STAGES]
    assert forward.more_stages
    # Events of a dropped stage stay dropped, and the kept stages keep everything.
    later = forward.apply(run_event(f"{names[-1]}.delivery.finished", stage=names[-1], result="pass"))
    assert later == forward
    assert not run_of(events[:MAX_STAGES]).more_stages


def test_past_the_task_and_sequence_caps_the_stage_says_so() -> None:
    tasks = [run_event(f"task-{index:02d}.started") for index in range(MAX_TASKS + 1)]
    sequences = [run_event(f"staging.seq-{index}.triggered") for index in range(MAX_SEQUENCES + 1)]
    stage = stage_of(run_of(tasks + sequences), "staging")
    assert len(stage.tasks) == MAX_TASKS and stage.more_tasks
    assert len(stage.sequences) == MAX_SEQUENCES and stage.more_sequences
    assert stage == stage_of(run_of(list(reversed(sequences + tasks))), "staging")


def test_long_and_multi_line_text_is_cut_to_one_short_line() -> None:
    event = run_event(
        "deployment.finished",
        stage="stage\nwith\tbreaks " + "x" * 200,
        project="p" * 500,
        status="errored",
        message="line one\nline two\u2028" + "y" * 1000,
    )
    state = run_of([event])
    [stage] = state.stages
    assert stage.name.startswith("stage with breaks x") and len(stage.name) == MAX_NAME and stage.name.endswith("…")
    assert len(state.project) == MAX_NAME
    ending = stage.tasks[0].ending
    assert ending is not None
    assert ending.message.startswith("line one line two y") and len(ending.message) == MAX_MESSAGE


def test_a_full_state_stays_small() -> None:
    # Every list at its cap, every text at its longest in 4-byte characters: the most a NATS key-value entry
    # (1 MiB at most by default) would have to hold. Plain ASCII names give about 48 KB.
    long_name = "\U0001d52b" * MAX_NAME
    worst_ending = Ending(Outcome.TIMED_OUT, "\U0001d52a" * MAX_MESSAGE)
    time = "2026-11-20T09:40:57.883541Z"
    task = TaskState(
        long_name,
        time,
        ("finished", "invalidated", "started", "status.changed", "triggered"),
        worst_ending,
        True,
        83.33,
    )
    stage = StageState(
        long_name,
        time,
        tuple(SequenceState(f"{index}{long_name}"[:MAX_NAME], time, worst_ending) for index in range(MAX_SEQUENCES)),
        tuple(replace(task, name=f"{index:02d}{long_name}"[:MAX_NAME]) for index in range(MAX_TASKS)),
        more_sequences=True,
        more_tasks=True,
    )
    stages = tuple(replace(stage, name=f"{index:02d}{long_name}"[:MAX_NAME]) for index in range(MAX_STAGES))
    errors = tuple(
        LogError(long_name, long_name, f"{index}" + "\U0001d52a" * MAX_MESSAGE) for index in range(MAX_ERRORS)
    )
    trouble = ProblemState("\U0001d52a" * MAX_MESSAGE, long_name, open=True, resolved=True)
    state = RunState("c" * 128, 1, long_name, long_name, time, time, stages, True, trouble, errors, True)
    assert RunState.from_json(state.to_json()) == state
    size = len(state.to_json())
    assert size < 128 * 1024, size
