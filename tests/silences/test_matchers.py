"""A silence's matchers: Alertmanager's operators on the fields routes match on, and clear words for bad ones."""

from __future__ import annotations

import pytest

from notifier.keptn.events import event_from_mapping
from notifier.silences.matchers import MatcherError, parse_matcher
from tests.helpers import keptn_event

EVENT = event_from_mapping(keptn_event("m-1", labels={"team": "payments", "Problem URL": "https://dt.example.com/p/1"}))


def holds(text: str, event: object = EVENT, channel: str = "prod-slack", route: str = "prod") -> bool:
    return parse_matcher(text).matches(event, channel, route)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [
        ("stage=production", True),
        ("stage=staging", False),
        ("stage!=staging", True),
        ("stage!=production", False),
        ("project=~sock.*", True),
        # fully anchored: a match in the middle is no match
        ("project=~ock", False),
        ("project!~ock", True),
        ("service=~carts|orders", True),
        ("service!~carts|orders", False),
        ("type=sh.keptn.event.*.finished", True),
        ("type=sh.keptn.event.>", True),
        ("type=sh.keptn.event.*.*.finished", False),
        ("type=sh.keptn.event.evaluation.finished", True),
        ("type!=sh.keptn.event.evaluation.finished", False),
        ("result=fail", True),
        ("result=FAIL", True),
        ("result=pass", False),
        ("source=lighthouse-service", True),
        ("label:team=payments", True),
        ("labels.team=payments", True),
        ("label:Problem URL=~https://dt\\.example\\.com/.*", True),
        ("label:owner=", True),
        ("label:owner!=", False),
        ("channel=prod-slack", True),
        ("channel!=prod-slack", False),
        ("route=~pro.*", True),
        ('stage="production"', True),
        ("  stage  =  production  ", True),
    ],
)
def test_each_operator_on_each_kind_of_name(matcher: str, expected: bool) -> None:
    assert holds(matcher) is expected


def test_result_is_the_worst_result_the_event_reports_as_routes_read_it() -> None:
    said_pass = event_from_mapping(keptn_event("m-2", result="pass", evaluation={"result": "fail"}))
    assert holds("result=fail", said_pass) and not holds("result=pass", said_pass)


def test_a_matcher_reads_back_as_written() -> None:
    for text in ("stage=production", "service!=carts", "project=~sock.*", "label:Problem URL!~a b", 'stage=""'):
        assert str(parse_matcher(text)) == text
        assert parse_matcher(str(parse_matcher(text))) == parse_matcher(text)
    assert str(parse_matcher('message=" padded "')) == 'message=" padded "'


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("stgae=production", "unknown field 'stgae' (did you mean 'stage'?)"),
        ("chanel=prod", "unknown field 'chanel' (did you mean 'channel'?)"),
        ("lable:team=x", "did you mean 'label:team'?"),
        ("nothing=x", "use type, source"),
        ("stage", "is not a matcher"),
        ("=production", "is not a matcher"),
        ("project=~sock(", "does not compile"),
        ("type=sh.keptn.*event.finished", "wildcards must be whole tokens"),
    ],
)
def test_a_bad_matcher_says_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(MatcherError) as error:
        parse_matcher(text)
    assert said in str(error.value)
