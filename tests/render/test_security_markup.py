"""Issue 5.4: nothing in an event can ping or phish, on any platform, through any field that reaches a message."""

from typing import Any

import pytest

from notifier.keptn.events import event_from_mapping
from notifier.render import render
from notifier.templating import TemplateSet
from tests.payload_checks import (
    EVIL_URLS,
    UNESCAPED_MARKUP,
    all_strings,
    assert_no_unescaped_control,
    assert_plain_markdown,
    assert_valid_slack_payload,
    assert_valid_teams_envelope,
    hostile_events,
    markdown_texts,
    slack_blocks,
)


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet(None, "https://bridge.example.com")


@pytest.mark.parametrize(("name", "raw"), hostile_events(), ids=[name for name, _ in hostile_events()])
def test_hostile_text_in_every_field_is_neutralised(templates: TemplateSet, name: str, raw: dict[str, Any]) -> None:
    message = templates.render(event_from_mapping(raw))
    assert message.template != "fallback", f"{name}: the template could not cope with hostile text"
    slack = render("slack", message)
    assert_valid_slack_payload(slack)
    assert_no_unescaped_control(slack)
    teams = render("teams", message)
    assert_valid_teams_envelope(teams)
    for text in markdown_texts(teams["attachments"][0]["content"]):
        assert not UNESCAPED_MARKUP.search(text), f"{name}: Teams markdown injection in {text!r}"
        assert_plain_markdown(text)
    for payload in (slack, teams):
        for text in all_strings(payload):
            for evil in EVIL_URLS:
                assert not text.startswith(evil.split(":")[0] + ":"), f"{name}: link with a hostile scheme {text!r}"
    # actions are links only to http(s), whatever the event said
    for action in teams["attachments"][0]["content"].get("actions", []):
        assert action["url"].startswith(("https://", "http://"))
    for block in slack_blocks(slack):
        for element in block.get("elements", []):
            if "url" in element:
                assert element["url"].startswith(("https://", "http://"))
