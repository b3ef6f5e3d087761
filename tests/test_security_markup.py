"""Issue 5.4: nothing in an event can ping or phish, on any platform, through any field that reaches a message."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from notifier.events import event_from_mapping
from notifier.render import render
from notifier.templating import TemplateSet
from tests.payload_checks import assert_no_unescaped_control, assert_valid_slack_payload, assert_valid_teams_envelope

SAMPLES = Path(__file__).parent.parent / "examples" / "events"
HOSTILE = (
    "<!channel> <!here|here> <@U123ABC> <#C999> <https://evil.example/phish|Click to re-login> "
    "[login](https://evil.example/x) <at>Everyone</at> **bold** &amp; & javascript:alert(1)"
)
EVIL_URLS = ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "file:///etc/passwd")


def poison(value: Any) -> Any:
    """Every string in the event's data becomes hostile; URL-ish keys get hostile schemes."""
    if isinstance(value, dict):
        return {key: _poison_item(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [poison(item) for item in value]
    if isinstance(value, str):
        return HOSTILE
    return value


def _poison_item(key: str, item: Any) -> Any:
    if "url" in key.lower() or "uri" in key.lower():
        return [EVIL_URLS[0], EVIL_URLS[1]] if isinstance(item, list) else EVIL_URLS[0]
    return poison(item)


def hostile_events() -> list[tuple[str, dict[str, Any]]]:
    events = []
    for path in sorted(SAMPLES.glob("*.json")):
        raw = json.loads(path.read_text())
        raw["data"] = poison(raw.get("data") or {})
        raw["data"]["labels"] = {HOSTILE: HOSTILE, "Problem URL": EVIL_URLS[2]}
        raw["data"].setdefault("project", HOSTILE)
        events.append((path.stem, raw))
    return events


# In Teams markdown, `<at>` starts a mention and `[x](url)` a link, unless backslash-escaped.
UNESCAPED_MARKUP = re.compile(r"(?<!\\)<at|(?<!\\)\]\(")


def markdown_texts(node: Any) -> list[str]:
    """Texts Teams reads as markdown: TextBlock text and FactSet titles and values (TextRuns are plain)."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "TextBlock":
            found.append(node["text"])
        if node.get("type") == "FactSet":
            found.extend(text for fact in node["facts"] for text in (fact["title"], fact["value"]))
        for value in node.values():
            found.extend(markdown_texts(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(markdown_texts(item))
    return found


def all_strings(payload: Any) -> list[str]:
    if isinstance(payload, dict):
        return [s for value in payload.values() for s in all_strings(value)]
    if isinstance(payload, list):
        return [s for value in payload for s in all_strings(value)]
    return [payload] if isinstance(payload, str) else []


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
    for payload in (slack, teams):
        for text in all_strings(payload):
            for evil in EVIL_URLS:
                assert not text.startswith(evil.split(":")[0] + ":"), f"{name}: link with a hostile scheme {text!r}"
    # actions are links only to http(s), whatever the event said
    for action in teams["attachments"][0]["content"].get("actions", []):
        assert action["url"].startswith(("https://", "http://"))
    for block in slack["blocks"]:
        for element in block.get("elements", []):
            if "url" in element:
                assert element["url"].startswith(("https://", "http://"))
