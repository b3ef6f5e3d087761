"""Issue 5.7: property-based tests on parsing, matching, routing and rendering. Nothing may escape as an exception."""

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.config.load import load_config
from notifier.intake.cloudevents import parse_request
from notifier.keptn.events import EventError, KeptnEvent, event_from_mapping
from notifier.pipeline.bounds import Bound, InputLimits
from notifier.pipeline.explain import Router
from notifier.render import render
from notifier.templating import TemplateSet
from tests.payload_checks import assert_valid_slack_payload, assert_valid_teams_envelope
from tests.strategies import events, json_values


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
