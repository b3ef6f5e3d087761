"""Issue 5.7: property-based tests on parsing, matching, routing and rendering. Nothing may escape as an exception."""

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.config.load import load_config
from notifier.keptn.events import EventError, KeptnEvent, event_from_mapping, parse_request
from notifier.pipeline.bounds import Bound, InputLimits
from notifier.pipeline.routing import Router
from notifier.render import render
from notifier.templating import TemplateSet
from tests.payload_checks import assert_valid_slack_payload, assert_valid_teams_envelope

json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=50)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
keptn_words = st.sampled_from(
    [
        "sh",
        "keptn",
        "event",
        "evaluation",
        "finished",
        "started",
        "triggered",
        "dev",
        "delivery",
        "status",
        "changed",
        "approval",
        "remediation",
        "problem",
        "events",
        "log",
        "error",
        "project",
        "create",
        "x",
    ]
)
event_types = st.lists(keptn_words, min_size=1, max_size=7).map(".".join)
known_fields = st.fixed_dictionaries(
    {},
    optional={
        "project": json_values,
        "stage": json_values,
        "service": json_values,
        "result": json_values,
        "status": json_values,
        "message": json_values,
        "labels": json_values,
        "evaluation": json_values,
        "problem": json_values,
        "approval": json_values,
        "deployment": json_values,
        "ProblemTitle": json_values,
    },
)


def events(data: Any = None) -> Any:
    return st.fixed_dictionaries(
        {
            "specversion": st.just("1.0"),
            "id": st.text(min_size=1, max_size=20),
            "source": st.text(min_size=1, max_size=20),
            "type": event_types,
            "data": data if data is not None else (known_fields | st.dictionaries(st.text(max_size=8), json_values)),
        },
        optional={"shkeptncontext": json_values, "time": json_values, "triggeredid": json_values},
    )


def bounded(events: list[KeptnEvent], body: bytes) -> list[KeptnEvent]:
    """What the pipeline's first stage makes of a request's events: parsing and bounding both may refuse."""
    return Bound(InputLimits())(events, len(body))


@given(
    st.binary(max_size=2000),
    st.sampled_from(
        ["application/cloudevents+json", "application/cloudevents-batch+json", "application/json", "text/plain", ""]
    ),
)
def test_any_body_parses_or_raises_event_error(body: bytes, content_type: str) -> None:
    try:
        parsed = bounded(parse_request(content_type, {"Content-Type": content_type}, body, 10), body)
    except EventError as exc:
        assert str(exc)
    else:
        assert all(event.id and event.type and event.source for event in parsed)


@given(json_values)
def test_any_json_document_parses_or_raises_event_error(document: Any) -> None:
    try:
        body = orjson.dumps(document)
        bounded(parse_request("application/cloudevents+json", {}, body, 10), body)
    except EventError as exc:
        assert str(exc)


@given(
    st.dictionaries(
        st.sampled_from(
            ["ce-id", "ce-source", "ce-type", "ce-specversion", "ce-time", "ce-shkeptncontext", "ce-bad key"]
        ),
        st.text(max_size=30),
    ),
    st.binary(max_size=200),
)
def test_any_binary_mode_headers_parse_or_raise_event_error(headers: dict[str, str], body: bytes) -> None:
    try:
        bounded(parse_request("application/json", {"Content-Type": "application/json", **headers}, body, 10), body)
    except EventError as exc:
        assert str(exc)


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Router:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "c.yaml"
    path.write_text(
        "channels: {a: {type: console}, b: {type: console}, c: {type: console}}\n"
        "routes:\n"
        "  - {name: r1, match: {types: ['sh.keptn.event.*.finished'], results: [fail]}, channels: [a, b]}\n"
        "  - {name: r2, match: {types: ['sh.keptn.>'], labels: {team: x}}, channels: [b]}\n"
        "  - {name: r3, match: {types: ['sh.keptn.event.*.*.finished'], stages: [dev, prod]}, channels: [c, a]}\n"
    )
    return Router(load_config(path, env={"PUBSUB_TOPIC": "sh.keptn.>,x.>"}))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events())
def test_routing_is_consistent_with_its_explanation(router: Router, raw: dict[str, Any]) -> None:
    event = event_from_mapping(raw)
    targets = router.targets(event)
    rejection, verdicts = router.explain(event)
    matched_channels = {channel for verdict in verdicts if verdict.matched for channel in verdict.channels}
    assert {target.channel for target in targets} == matched_channels
    assert len({target.channel for target in targets}) == len(targets)
    assert (rejection is None) or not targets
    assert all(verdict.reason for verdict in verdicts)


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet(None, "https://bridge.example.com")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events())
def test_any_event_renders_to_valid_payloads_on_every_platform(templates: TemplateSet, raw: dict[str, Any]) -> None:
    message = templates.render(event_from_mapping(raw))
    assert message.title
    assert_valid_slack_payload(render("slack", message))
    assert_valid_teams_envelope(render("teams", message))
    assert isinstance(render("text", message), str)
