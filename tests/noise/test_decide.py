"""Repeat keys and windows, digest windows, and the decision that combines them with quiet hours.

Time is a number the test chooses: nothing waits, nothing reads a clock.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from notifier.keptn.events import KeptnEvent, event_from_mapping
from notifier.keptn.fields import FIELDS
from notifier.noise.decide import (
    Action,
    DigestWindow,
    HoldReason,
    NoiseState,
    decide,
    describe,
    digest_holds,
    digest_window,
    format_span,
    hold_reason,
    repeat_key_fields,
    repeat_key_of,
    suppress,
)
from notifier.noise.rules import DEFAULT_REPEAT_KEY, DigestRule, NoiseRules


def event(
    type_: str = "sh.keptn.event.evaluation.finished",
    *,
    id_: str = "e1",
    time: str = "2026-11-20T14:07:52.118Z",
    context: str = "ctx-1",
    **data: Any,
) -> KeptnEvent:
    fields = {"project": "sockshop", "stage": "production", "service": "carts", "result": "fail", **data}
    return event_from_mapping(
        {
            "specversion": "1.0",
            "id": id_,
            "source": "lighthouse-service",
            "type": type_,
            "time": time,
            "shkeptncontext": context,
            "triggeredid": f"t-{id_}",
            "data": fields,
        }
    )


def rules(text: str) -> NoiseRules:
    return NoiseRules.model_validate(yaml.safe_load(text))


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# --- repeat keys ----------------------------------------------------------------------------------------------


def test_the_default_key_is_made_of_type_project_stage_service_and_result() -> None:
    assert repeat_key_fields(event(), DEFAULT_REPEAT_KEY) == (
        ("type", "sh.keptn.event.evaluation.finished"),
        ("project", "sockshop"),
        ("stage", "production"),
        ("service", "carts"),
        ("result", "fail"),
    )


def test_the_key_is_a_stable_digest_that_does_not_depend_on_the_process() -> None:
    # The key is stored, so it must be the same after a restart and in the next release: SHA-256 of the
    # (field, value) pairs as compact JSON, nothing process-dependent such as hash().
    expected = hashlib.sha256(b'[["project","sockshop"],["result","fail"]]').hexdigest()
    assert repeat_key_of(event(), ["project", "result"]) == expected


@pytest.mark.parametrize(
    ("changed", "same"),
    [
        ({"id_": "e2"}, True),
        ({"time": "2026-11-21T01:00:00Z"}, True),
        ({"context": "ctx-2"}, True),  # another run of the same news: the default key leaves the context out
        ({"result": "pass"}, False),
        ({"stage": "staging"}, False),
        ({"type_": "sh.keptn.event.test.finished"}, False),
        ({"labels": {"team": "payments"}}, True),  # labels are not in the default key
        ({"message": "other words"}, True),
        ({"status": "errored"}, True),
    ],
)
def test_only_the_key_fields_make_two_events_different(changed: dict[str, Any], same: bool) -> None:
    assert (repeat_key_of(event(**changed), DEFAULT_REPEAT_KEY) == repeat_key_of(event(), DEFAULT_REPEAT_KEY)) is same


def test_every_allowed_field_is_read_from_the_event() -> None:
    sample = event_from_mapping(
        {
            "specversion": "1.0",
            "id": "1",
            "source": "src",
            "type": "t",
            "subject": "subj",
            "shkeptncontext": "ctx",
            "data": {
                "project": "p",
                "stage": "s",
                "service": "svc",
                "result": "Pass",
                "status": "Succeeded",
                "message": {"b": 1, "a": [2]},
                "labels": {"team": "payments", "Problem URL": "https://x"},
            },
        }
    )
    keys = [*FIELDS, "labels.team", "labels.Problem URL", "labels.absent"]
    assert dict(repeat_key_fields(sample, keys)) == {
        "type": "t",
        "source": "src",
        "subject": "subj",
        "shkeptncontext": "ctx",
        "project": "p",
        "stage": "s",
        "service": "svc",
        "result": "pass",  # lower-cased, as routes match it
        "status": "succeeded",
        "message": '{"a":[2],"b":1}',  # a structured value, in a stable order
        "labels.team": "payments",
        "labels.Problem URL": "https://x",
        "labels.absent": "",
    }


def test_field_order_is_part_of_the_key_and_values_cannot_run_into_each_other() -> None:
    assert repeat_key_of(event(), ["project", "stage"]) != repeat_key_of(event(), ["stage", "project"])
    joined = event(project="a", stage="bc")
    split = event(project="ab", stage="c")
    assert repeat_key_of(joined, ["project", "stage"]) != repeat_key_of(split, ["project", "stage"])


TEXT = st.text(max_size=20)


@given(
    first=st.tuples(TEXT, TEXT, TEXT, TEXT),
    second=st.tuples(TEXT, TEXT, TEXT, TEXT),
    project=TEXT,
    result=st.sampled_from(["pass", "warning", "fail", ""]),
    keys=st.lists(st.sampled_from([*FIELDS, "labels.team"]), min_size=1, unique=True),
)
def test_ids_times_and_temporary_data_never_change_a_key(
    first: tuple[str, str, str, str],
    second: tuple[str, str, str, str],
    project: str,
    result: str,
    keys: list[str],
) -> None:
    """Flux #509: two copies of the same news, as the distributor forwards them, have one key."""

    def copy(ids: tuple[str, str, str, str]) -> KeptnEvent:
        event_id, time, triggered, subscription = ids
        return event_from_mapping(
            {
                "specversion": "1.0",
                "id": event_id or "x",
                "source": "shipyard-controller",
                "type": "sh.keptn.event.production.delivery.finished",
                "time": time,
                "triggeredid": triggered,
                "gitcommitid": triggered,
                "shkeptncontext": "ctx",
                "data": {
                    "project": project,
                    "result": result,
                    "labels": {"team": "payments"},
                    "temporaryData": {"distributor": {"subscriptionID": subscription}},
                },
            }
        )

    assert repeat_key_of(copy(first), keys) == repeat_key_of(copy(second), keys)


# --- the repeat window ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_sent_at", "now", "interval", "suppressed"),
    [
        (None, 1000.0, 600.0, False),  # never sent
        (1000.0, 1000.0, 600.0, True),  # the same instant
        (1000.0, 1599.9, 600.0, True),
        (1000.0, 1600.0, 600.0, False),  # the window is [sent, sent + interval)
        (1000.0, 5000.0, 600.0, False),
        (1000.0, 990.0, 600.0, True),  # the clock stepped back a little: still a repeat
        (1000.0, 400.0, 600.0, False),  # stepped back by more than the interval: suppress no longer
    ],
)
def test_suppress_within_the_interval_of_the_last_send(
    last_sent_at: float | None, now: float, interval: float, suppressed: bool
) -> None:
    assert suppress(last_sent_at, now, interval) is suppressed


# --- digest windows -------------------------------------------------------------------------------------------

RULE = DigestRule(after=3, window=300.0)


def test_a_fixed_window_opens_with_the_first_notification_and_holds_past_after() -> None:
    arrivals = [100.0, 110.0, 120.0, 130.0, 140.0, 399.9, 400.0, 401.0]
    window: DigestWindow | None = None
    seen = []
    for now in arrivals:
        window = digest_window(window, now, RULE)
        seen.append((now, digest_holds(window, RULE), window.end))
    assert seen == [
        (100.0, False, 400.0),
        (110.0, False, 400.0),
        (120.0, False, 400.0),
        (130.0, True, 400.0),  # the fourth within the window: held until the window ends
        (140.0, True, 400.0),
        (399.9, True, 400.0),
        (400.0, False, 700.0),  # the window is over: a new one opens
        (401.0, False, 700.0),
    ]


def test_a_clock_stepped_back_before_the_window_opens_a_new_one() -> None:
    assert digest_window(DigestWindow(1000.0, 1300.0, 9), 900.0, RULE) == DigestWindow(900.0, 1200.0, 1)


# --- decide ---------------------------------------------------------------------------------------------------

ALL = rules(
    """
    repeat_interval: 10m
    digest: {after: 2, window: 5m}
    quiet_hours: {from: "22:00", to: "07:00", timezone: Europe/Vienna}
    """
)
DAY = utc("2026-01-15T12:00:00")  # 13:00 in Vienna


def test_no_rules_always_send() -> None:
    decision = decide(NoiseRules(), DAY, last_sent_at=DAY, window=DigestWindow(DAY, DAY + 1, 99))
    assert decision.action is Action.SEND
    assert decision.counts_as_sent


def test_a_repeat_is_suppressed_before_anything_else_and_keeps_the_window() -> None:
    window = DigestWindow(DAY - 10, DAY + 290, 1)
    night = utc("2026-01-15T23:00:00")
    for now in (DAY, night):
        decision = decide(ALL, now, last_sent_at=now - 180, window=window)
        assert decision.action is Action.SUPPRESS
        assert decision.window == window
        assert not decision.counts_as_sent
        assert decision.explanation == (
            "repeat: the same type, project, stage, service, result was sent 3m ago (repeat_interval 10m)"
        )


def test_quiet_hours_hold_until_they_end_without_counting_towards_the_digest() -> None:
    night = utc("2026-01-15T23:00:00")  # midnight in Vienna
    decision = decide(ALL, night, last_sent_at=None, window=None)
    assert decision.action is Action.HOLD
    assert decision.hold is HoldReason.QUIET_HOURS
    assert decision.release_at == utc("2026-01-16T06:00:00")
    assert decision.window is None
    assert decision.counts_as_sent
    assert decision.explanation == "held: quiet hours 22:00\N{EN DASH}07:00 Europe/Vienna until 2026-01-16 07:00 CET"


def test_the_digest_holds_past_after_until_the_window_ends() -> None:
    window = None
    actions = []
    for offset in (0, 30, 60, 90):
        decision = decide(ALL, DAY + offset, last_sent_at=None, window=window)
        window = decision.window
        actions.append((decision.action, decision.release_at))
    assert actions == [(Action.SEND, None), (Action.SEND, None), (Action.HOLD, DAY + 300), (Action.HOLD, DAY + 300)]
    assert decide(ALL, DAY + 120, None, window).explanation == (
        "held for a digest: 5 notifications in the window opened 2m ago, more than 2 within 5m"
    )


def test_a_digest_that_would_end_in_quiet_hours_waits_for_their_end() -> None:
    late = utc("2026-01-15T20:58:00")  # 21:58 in Vienna; the window would end at 22:03
    window = DigestWindow(late - 60, late + 240, 2)
    decision = decide(ALL, late, None, window)
    assert (decision.action, decision.hold) == (Action.HOLD, HoldReason.DIGEST)
    assert decision.release_at == utc("2026-01-16T06:00:00")


def test_hold_reasons_and_descriptions_for_the_routes_command() -> None:
    assert hold_reason(ALL, HoldReason.QUIET_HOURS) == "during quiet hours (22:00\N{EN DASH}07:00 Europe/Vienna)"
    assert hold_reason(ALL, HoldReason.DIGEST) == "after more than 2 within 5m"
    assert describe(NoiseRules(), DAY) == []
    assert describe(ALL, DAY) == [
        "repeat_interval 10m: not sent again when a notification with the same type, project, stage, service, "
        "result was sent to the channel in the last 10m",
        "digest: past 2 notifications to one channel within 5m, the rest are held for one digest at the window's end",
        "quiet_hours 22:00\N{EN DASH}07:00 Europe/Vienna: not quiet now",
    ]
    assert describe(ALL, utc("2026-07-01T22:00:00"))[-1] == (
        "quiet_hours 22:00\N{EN DASH}07:00 Europe/Vienna: quiet now, held until 2026-07-02 07:00 CEST"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (600, "10m"), (90, "1m 30s"), (5400, "1h 30m"), (86400 + 3 * 3600 + 5, "1d 3h")],
)
def test_format_span(seconds: float, text: str) -> None:
    assert format_span(seconds) == text


# --- NoiseState: the memory the store will keep ----------------------------------------------------------------


def test_an_outage_gives_after_messages_and_one_digest_per_window() -> None:
    state = NoiseState(rules("digest: {after: 5, window: 5m}"))
    actions = [state.offer(event(id_=str(n), stage=f"s{n}"), DAY + n).action for n in range(40)]
    assert actions == [Action.SEND] * 5 + [Action.HOLD] * 35
    assert state.due(DAY + 299) == []
    (release,) = state.due(DAY + 300)
    assert (release.reason, release.release_at, len(release.events)) == (HoldReason.DIGEST, DAY + 300, 35)
    assert [held.id for held in release.events] == [str(n) for n in range(5, 40)]  # in arrival order
    assert state.held == [] and state.due(DAY + 10_000) == []
    assert state.offer(event(id_="next"), DAY + 301).action is Action.SEND  # a new window


def test_repeats_are_dropped_not_held_so_a_digest_shows_each_news_once() -> None:
    state = NoiseState(rules("repeat_interval: 10m\ndigest: {after: 1, window: 5m}"))
    offered = [
        (state.offer(event(id_="a", result="fail"), DAY).action),
        (state.offer(event(id_="b", result="fail"), DAY + 10).action),  # repeat of a
        (state.offer(event(id_="c", result="pass"), DAY + 20).action),  # new news, past `after`: held
        (state.offer(event(id_="d", result="pass"), DAY + 30).action),  # repeat of the held c
    ]
    assert offered == [Action.SEND, Action.SUPPRESS, Action.HOLD, Action.SUPPRESS]
    (release,) = state.due(DAY + 300)
    assert [held.id for held in release.events] == ["c"]


def test_a_condition_that_goes_on_is_reported_again_every_interval() -> None:
    state = NoiseState(rules("repeat_interval: 10m"))
    sent = [n for n in range(0, 3600, 60) if state.offer(event(id_=str(n)), DAY + n).action is Action.SEND]
    assert sent == [0, 600, 1200, 1800, 2400, 3000]


def test_quiet_hours_hold_everything_for_one_release_at_their_end() -> None:
    state = NoiseState(rules('quiet_hours: {from: "22:00", to: "07:00", timezone: Europe/Vienna}'))
    night = utc("2026-01-15T21:00:00")
    decisions = [state.offer(event(id_=str(n)), night + n * 600) for n in range(6)]
    assert {decision.action for decision in decisions} == {Action.HOLD}
    morning = utc("2026-01-16T06:00:00")
    assert state.due(morning - 1) == []
    (release,) = state.due(morning)
    assert (release.reason, len(release.events)) == (HoldReason.QUIET_HOURS, 6)
    assert state.offer(event(id_="day"), morning).action is Action.SEND


def test_a_digest_pushed_into_quiet_hours_goes_out_with_theirs() -> None:
    state = NoiseState(ALL)
    late = utc("2026-01-15T20:58:00")  # 21:58 in Vienna
    for n in range(4):
        state.offer(event(id_=str(n), stage=f"s{n}"), late + n)
    state.offer(event(id_="night", stage="night"), utc("2026-01-15T23:00:00"))
    (release,) = state.due(utc("2026-01-16T06:00:00"))
    assert release.reason is HoldReason.QUIET_HOURS
    assert [held.id for held in release.events] == ["2", "3", "night"]


def test_forget_drops_only_keys_that_can_no_longer_suppress() -> None:
    state = NoiseState(rules("repeat_interval: 10m"))
    state.offer(event(id_="a", stage="one"), DAY)
    state.offer(event(id_="b", stage="two"), DAY + 500)
    assert state.forget(DAY + 600) == 1
    assert len(state.last_sent) == 1
    assert state.offer(event(id_="c", stage="two"), DAY + 601).action is Action.SUPPRESS
