"""A new silence: the guards (everything, too long, an end in the past), its times, and what of the config it can
touch."""

from __future__ import annotations

from typing import Any

import pytest

from notifier.config.load import Config
from notifier.config.routes import RouteConfig
from notifier.config.settings import Settings
from notifier.keptn.match import Match
from notifier.silences.reach import reach
from notifier.silences.silence import Silence, SilenceError, new_silence, parse_span, parse_when, timestamp
from notifier.store.protocol import SilenceRecord

NOW = 1_790_000_000.0
HOUR = 3600.0
WEEK = 7 * 86400.0


def make(*matchers: str, **given: Any) -> Silence:
    arguments: dict[str, Any] = {
        "ends": NOW + HOUR,
        "created_by": "alice",
        "comment": "maintenance",
        "now": NOW,
        "max_duration": WEEK,
        **given,
    }
    return new_silence(list(matchers), **arguments)


def refused(*matchers: str, **given: Any) -> str:
    with pytest.raises(SilenceError) as error:
        make(*matchers, **given)
    return str(error.value)


def test_a_silence_mutes_from_its_start_until_just_before_its_end() -> None:
    silence = make("stage=production", starts=NOW + 60)
    assert (silence.starts, silence.ends, silence.created_by, silence.comment) == (
        NOW + 60,
        NOW + HOUR,
        "alice",
        "maintenance",
    )
    assert [silence.active(at) for at in (NOW, NOW + 60, NOW + HOUR - 1, NOW + HOUR)] == [False, True, True, False]
    # a start in the past is now
    assert make("stage=production", starts=NOW - HOUR).starts == NOW
    # ids are unique
    assert make("stage=x").id != make("stage=x").id


def test_a_silence_is_stored_as_written_and_read_back_the_same() -> None:
    silence = make("stage=production", "label:Problem URL=~https://.*", drop=True)
    record = silence.record()
    assert record == SilenceRecord(
        silence.id, ("stage=production", "label:Problem URL=~https://.*"), NOW, NOW + HOUR, "alice", "maintenance", True
    )
    assert Silence.of(record) == silence


def test_no_matcher_mutes_everything_only_when_asked_for() -> None:
    assert "no matcher: it would mute every notification" in refused()
    assert "or --all to mute everything" in refused()
    assert '"all": true' in refused(all_flag='"all": true')
    everything = make(everything=True)
    assert everything.matchers == ()


def test_the_longest_silence_is_silence_max_duration() -> None:
    assert make("stage=x", ends=NOW + WEEK).ends == NOW + WEEK
    said = refused("stage=x", ends=NOW + WEEK + 1)
    assert "it would last 7d 1s, longer than silence_max_duration (7d, NOTIFIER_SILENCE_MAX_DURATION)" in said
    # counted from its start
    assert make("stage=x", starts=NOW + HOUR, ends=NOW + HOUR + WEEK).ends == NOW + HOUR + WEEK
    assert "longer than silence_max_duration (2h" in refused("stage=x", ends=NOW + 3 * HOUR, max_duration=2 * HOUR)


def test_an_end_in_the_past_or_before_the_start_is_refused() -> None:
    assert f"it ends in the past ({timestamp(NOW - 1)})" in refused("stage=x", ends=NOW - 1)
    assert "ends in the past" in refused("stage=x", ends=NOW)
    assert "before it starts" in refused("stage=x", starts=NOW + 2 * HOUR)


def test_every_problem_is_said_at_once() -> None:
    said = refused("stgae=x", "project=~(", comment=" ", created_by="", ends=NOW - 1)
    for part in ("did you mean 'stage'?", "does not compile", "no comment", "no author", "ends in the past"):
        assert part in said


def test_times_are_rfc_3339_or_durations_from_now() -> None:
    assert parse_when("90m", NOW) == NOW + 5400
    assert parse_when("1d", NOW) == NOW + 86400
    assert parse_when("2026-11-20T18:00:00Z", NOW) == 1795197600.0
    assert parse_when("2026-11-20T19:00:00+01:00", NOW) == 1795197600.0
    assert timestamp(1795197600.0) == "2026-11-20T18:00:00Z"
    with pytest.raises(SilenceError, match="no time zone"):
        parse_when("2026-11-20T18:00:00", NOW)
    with pytest.raises(SilenceError, match="neither a time nor a duration"):
        parse_when("tomorrow", NOW)
    assert parse_span("2h") == 2 * HOUR
    with pytest.raises(SilenceError, match="more than nothing"):
        parse_span("0s")


# -- what a silence can touch --------------------------------------------------------------------------------


def config(*routes: RouteConfig, **settings: Any) -> Config:
    return Config(Settings(**settings), {}, routes)


PROD = RouteConfig(
    name="prod",
    match=Match(types=["sh.keptn.event.*.finished"], stages=["production"], labels={"team": "payments"}),
    channels=["prod-slack", "teams"],
)
EVERYTHING = RouteConfig(name="all", channels=["log"])


def touches(
    *matchers: str, routes: tuple[RouteConfig, ...] = (PROD, EVERYTHING), **settings: Any
) -> dict[str, tuple[str, ...]]:
    wanted = config(*routes, **settings)
    return dict(reach(make(*matchers), wanted.routes, wanted.settings).touches)


def test_a_silence_touches_the_routes_and_channels_it_can_match() -> None:
    assert touches("stage=production") == {"prod": ("prod-slack", "teams"), "all": ("log",)}
    assert touches("stage=staging") == {"all": ("log",)}
    assert touches("stage=~prod.*") == {"prod": ("prod-slack", "teams"), "all": ("log",)}
    assert touches("stage!=production") == {"all": ("log",)}
    assert touches("channel=teams") == {"prod": ("teams",)}
    assert touches("channel!~prod-.*", "route=prod") == {"prod": ("teams",)}
    assert touches("label:team=search") == {"all": ("log",)}
    assert touches("type=sh.keptn.event.evaluation.finished") == {"prod": ("prod-slack", "teams"), "all": ("log",)}
    # the route's types are task events only; the subscription takes every type
    assert touches("type=sh.keptn.event.*.*.finished", pubsub_topic="sh.keptn.>") == {"all": ("log",)}
    # nothing of it is subscribed at all
    assert touches("type=sh.keptn.event.deployment.started") == {}
    assert touches("stage=dev", stage_filter="production") == {}
    # what the config does not pin may always match
    assert touches("source=helm-service", "message=~.*timeout.*") == {"prod": ("prod-slack", "teams"), "all": ("log",)}


def test_a_silence_that_can_match_nothing_says_why_per_route() -> None:
    wanted = config(PROD)
    lines = reach(make("stage=staging"), wanted.routes, wanted.settings).describe()
    assert lines == ["it can match nothing the routes send (route prod: stage=staging refuses production)"]
    reached = reach(make("stage=production"), wanted.routes, wanted.settings).describe()
    assert reached == ["route prod -> prod-slack, teams"]
