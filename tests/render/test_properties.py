"""Property: any Message, whatever its text, renders within every platform limit."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.message import Fact, Link, Message, Severity
from notifier.render.messagecard import render_messagecard
from notifier.render.slack import render_slack
from notifier.render.teams import render_teams
from notifier.render.text import render_text
from tests.payload_checks import (
    assert_no_unescaped_control,
    assert_valid_slack_payload,
    assert_valid_teams_envelope,
    json_size,
)

# Arbitrary text, plus long repetitions of short arbitrary text to reach the size limits cheaply.
texts = st.text() | st.text(min_size=1, max_size=4).map(lambda piece: piece * 2500)
urls = texts | st.sampled_from(["https://bridge.example/trace/1", "http://127.0.0.1:8080/x", "javascript:alert(1)"])
messages = st.builds(
    Message,
    title=texts,
    severity=st.sampled_from(Severity),
    summary=texts,
    text=texts,
    facts=st.lists(st.builds(Fact, name=texts, value=texts), max_size=60).map(tuple),
    links=st.lists(st.builds(Link, title=texts, url=urls), max_size=30).map(tuple),
    footer=texts,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages)
def test_any_message_renders_within_every_limit(message: Message) -> None:
    slack = render_slack(message)
    assert_valid_slack_payload(slack)
    assert_no_unescaped_control(slack)
    assert_valid_teams_envelope(render_teams(message))
    assert json_size(render_messagecard(message)) <= 28_000
    text = render_text(message)
    assert text.startswith("[") and text.endswith("\n")
