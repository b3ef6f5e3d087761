"""Properties: a run's state (and so its message) is a function of the set of its events.

Any arrival order and any duplication give the same final state, the same JSON document and the same run
message; two replicas that saw different halves of a run agree once their states are merged.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.keptn.events import KeptnEvent, event_from_mapping
from notifier.message import Severity
from notifier.runs.message import EMOJI, run_message
from notifier.runs.state import MAX_SEQUENCES, MAX_STAGES, MAX_TASKS, Alert, Outcome, RunState, needs_a_person, run_of
from tests.helpers import run_event, shipped_run

BRIDGE = "https://keptn.example.com/bridge"
SHIPPED = {name: shipped_run(name) for name in ("delivery-passed", "evaluation-failed")}


@st.composite
def arrivals(draw: st.DrawFn, events: list[KeptnEvent]) -> list[KeptnEvent]:
    """The events in any order, some of them twice (overlapping subscriptions deliver an event twice)."""
    again = draw(st.lists(st.sampled_from(events), max_size=8))
    return list(draw(st.permutations([*events, *again])))


@pytest.mark.parametrize("name", sorted(SHIPPED))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_shipped_run_ends_the_same_in_any_order(name: str, data: st.DataObject) -> None:
    events = SHIPPED[name]
    expected = run_of(events)
    state = run_of(data.draw(arrivals(events)))
    assert state == expected
    assert state.to_json() == expected.to_json()
    assert run_message(state, BRIDGE) == run_message(expected, BRIDGE)


# Random events from a small vocabulary, with more stages, tasks and sequences than the caps keep.
stages = st.sampled_from([f"st{index:02d}" for index in range(MAX_STAGES + 2)] + [""])
tasks = st.sampled_from(["approval", "deployment", "evaluation", "test"] + [f"t{i:02d}" for i in range(MAX_TASKS)])
sequences = st.sampled_from(["delivery", "rollback", "remediation"] + [f"q{i}" for i in range(MAX_SEQUENCES)])
times = st.sampled_from(
    [None, "garbage", "2026-11-20T09:00:00Z", "2026-11-20T09:00:00.123456789Z", "2026-11-20T11:00:00+02:00"]
) | st.integers(0, 3600).map(lambda second: f"2026-11-20T09:{second // 60:02d}:{second % 60:02d}.5Z")
fields = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["succeeded", "errored", "aborted", "unknown", "odd"]),
        "result": st.sampled_from(["pass", "warning", "fail", ""]),
        "message": st.sampled_from(["", "sequence timed out", "helm upgrade failed", "z" * 300]),
        "project": st.sampled_from(["sockshop", "other"]),
        "evaluation": st.fixed_dictionaries(
            {}, optional={"result": st.sampled_from(["pass", "fail"]), "score": st.floats(0, 100)}
        ),
        "approval": st.fixed_dictionaries({"pass": st.sampled_from(["manual", "automatic"])}),
    },
)


problem_states = st.sampled_from(["OPEN", "RESOLVED", "open", "", None])
problems = st.fixed_dictionaries(
    {},
    optional={
        "State": problem_states,
        "ProblemTitle": st.sampled_from(["Response time degradation", "error_rate_high", ""]),
        "problemTitle": st.sampled_from(["cpu", "x" * 300]),
    },
)


@st.composite
def random_events(draw: st.DrawFn) -> KeptnEvent:
    """Task and sequence events, and the events that are alarms of their own: problems (legacy, or a
    remediation that carries one) and `sh.keptn.log.*`."""
    stage, time, data = draw(stages), draw(times), draw(fields)
    kind = draw(st.sampled_from(["task", "sequence", "remediation", "problem", "log"]))
    event_id = str(draw(st.integers(0, 10**6)))
    if kind == "task":
        suffix = f"{draw(tasks)}.{draw(st.sampled_from(['triggered', 'started', 'status.changed', 'finished']))}"
    elif kind == "sequence":
        suffix = f"{stage or 'dev'}.{draw(sequences)}.{draw(st.sampled_from(['triggered', 'finished']))}"
    elif kind == "remediation":
        suffix = f"{stage or 'dev'}.remediation.triggered"
        data["problem"] = draw(problems)
    else:
        event = run_event("x", stage=stage, time=time, event_id=event_id, **data)
        raw = dict(event.raw)
        if kind == "problem":
            raw["type"] = "sh.keptn.events.problem"
            raw["data"] = {**raw["data"], **draw(problems)}
        else:
            raw["type"] = f"sh.keptn.log.{draw(st.sampled_from(['error', 'info']))}"
            raw["data"] = {**raw["data"], "task": draw(tasks)}
        return event_from_mapping(raw)
    return run_event(suffix, stage=stage, time=time, event_id=event_id, **data)


@settings(max_examples=60, deadline=None)
@given(events=st.lists(random_events(), min_size=1, max_size=40), data=st.data())
def test_any_events_end_the_same_in_any_order(events: list[KeptnEvent], data: st.DataObject) -> None:
    expected = run_of(events)
    state = run_of(data.draw(arrivals(events)))
    assert state == expected
    assert run_message(state, BRIDGE) == run_message(expected, BRIDGE)
    assert RunState.from_json(state.to_json()) == state


@settings(max_examples=60, deadline=None)
@given(events=st.lists(random_events(), min_size=2, max_size=40), data=st.data())
def test_two_halves_merged_are_the_whole(events: list[KeptnEvent], data: st.DataObject) -> None:
    cut = data.draw(st.integers(1, len(events) - 1))
    first, second = run_of(events[:cut]), run_of(events[cut:])
    assert first.merge(second) == second.merge(first) == run_of(events)


@settings(max_examples=150, deadline=None)
@given(event=random_events())
def test_what_needs_a_person_heads_the_run_message_of_that_event(event: KeptnEvent) -> None:
    needs = needs_a_person(event)
    state = run_of([event])
    if needs is not None:
        assert state.focus.state == needs
        assert run_message(state).title.startswith(EMOJI[needs] + " ")
        assert state.severity in (Severity.WARNING, Severity.FAILURE)


@settings(max_examples=100, deadline=None)
@given(events=st.lists(random_events(), min_size=1, max_size=12))
def test_a_failure_or_an_open_problem_is_never_hidden_and_the_headline_names_the_run_once(
    events: list[KeptnEvent],
) -> None:
    state = run_of(events)
    message = run_message(state)
    alarms = {needs_a_person(event) for event in events}
    # failures and logged errors never end; an open problem heads the run until it is resolved or the run is over
    if alarms & {Outcome.FAILED, Outcome.ABORTED, Outcome.ERRORED, Outcome.TIMED_OUT, Alert.ERROR_LOGGED}:
        assert message.severity is Severity.FAILURE, message.title
    problem = state.problem
    if Alert.PROBLEM_OPEN in alarms and problem is not None and not problem.resolved and not state.done:
        assert message.title.startswith("🚨 Problem open: "), message.title
    assert " run: " not in message.title and "waiting" not in message.title.split(":")[0], message.title
