"""Issue 12.4: with mentions configured, the operator's mentions are the only ones in a payload. Text from
events still never produces a mention or a link: the hostile events of tests/render/test_security_markup.py again, with
mentions that match what the hostile text tries (`<!channel>`, `<at>Everyone</at>`), plus an event label
`<!channel>` and a Teams `<at>` in event text, on the renderers and through the running service."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from notifier.keptn.events import event_from_mapping
from notifier.render import render
from notifier.render.mentions import Mentions, TeamsMention
from notifier.templating import TemplateSet
from tests.fakes import FakeChatServer
from tests.helpers import keptn_event, running_service, slack_hook, teams_hook
from tests.payload_checks import (
    EVIL_URLS,
    UNESCAPED_MARKUP,
    all_strings,
    assert_no_unescaped_control,
    assert_valid_slack_payload,
    assert_valid_teams_envelope,
    hostile_events,
    markdown_texts,
)

# What the hostile text tries, configured for real: a leak would ping these very people.
EVERYONE = TeamsMention(name="Everyone", id="everyone@example.com")
ON_CALL = TeamsMention(name="On-call", id="oncall@example.com")
MENTIONS = Mentions(("<!channel>", "<@U123ABC>", "<!subteam^SAZ94GDB8>"), (EVERYONE, ON_CALL))
# An `<at>` anywhere in a card that Teams could read as a tag (not backslash-escaped, no word joiner inside).
AT_TAG = re.compile(r"(?<!\\)<at>", re.IGNORECASE)


def assert_only_the_configured_slack_mentions(payload: dict[str, Any], mentions: Mentions) -> None:
    """The mention section and the `text` prefix hold the operator's strings; nothing else holds any."""
    assert_valid_slack_payload(payload)
    rest = copy.deepcopy(payload)
    mention_block = rest["blocks"].pop(1)
    assert mention_block["text"]["text"] == mentions.slack_markup
    prefix = mentions.slack_markup + " "
    assert rest["text"].startswith(prefix)
    rest["text"] = rest["text"].removeprefix(prefix)
    assert_no_unescaped_control(rest)


def assert_only_the_configured_teams_mentions(envelope: dict[str, Any], mentions: Mentions) -> None:
    """One `<at>` per configured person, all in the mention block; the entities are exactly the configured."""
    assert_valid_teams_envelope(envelope)
    card = envelope["attachments"][0]["content"]
    assert card["msteams"]["entities"] == mentions.teams_entities()
    mention_block = card["body"][1]
    assert mention_block == {"type": "TextBlock", "text": mentions.teams_markup, "wrap": True}
    rest = copy.deepcopy(card)
    del rest["body"][1], rest["msteams"]
    for text in all_strings(rest):
        assert not AT_TAG.search(text), f"an <at> Teams could read, outside the mention block: {text!r}"
    for text in markdown_texts(rest):
        assert not UNESCAPED_MARKUP.search(text), f"Teams markdown injection in {text!r}"


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet(None, "https://bridge.example.com")


@pytest.mark.parametrize(("name", "raw"), hostile_events(), ids=[name for name, _ in hostile_events()])
def test_hostile_text_gives_no_mention_but_the_configured_ones(
    templates: TemplateSet, name: str, raw: dict[str, Any]
) -> None:
    message = templates.render(event_from_mapping(raw))
    assert message.template != "fallback", name
    slack = render("slack", message, MENTIONS)
    teams = render("teams", message, MENTIONS)
    assert isinstance(slack, dict) and isinstance(teams, dict)
    assert_only_the_configured_slack_mentions(slack, MENTIONS)
    assert_only_the_configured_teams_mentions(teams, MENTIONS)
    for payload in (slack, teams):
        for text in all_strings(payload):
            for evil in EVIL_URLS:
                assert not text.startswith(evil.split(":")[0] + ":"), f"{name}: link with a hostile scheme {text!r}"


def hostile_labels_and_text() -> dict[str, Any]:
    """An event label `<!channel>`, and a Teams `<at>` (of a configured name) in the text, message and label."""
    return keptn_event(
        "hostile-1",
        labels={"<!channel>": "<!channel>", "owner": "<at>On-call</at>", "pager": "<!subteam^SAZ94GDB8>"},
        message="<at>On-call</at> please look <!here> <@U999> [login](https://evil.example/x)",
    )


# Event text in every part of a message: title, body (Teams TextRuns), a fact, a link title, the footer.
LABELS_TEMPLATE = """
title: "{{ labels['pager'] }} {{ where }}"
text: |
  {{ message }}
  {% for key, value in labels.items() %}
  {{ key }} = {{ value }}
  {% endfor %}
facts:
  - {name: "{{ labels['<!channel>'] }}", value: "{{ labels['owner'] }}"}
links:
  - {title: "{{ labels['owner'] }}", url: "https://example.com/runbook"}
footer: "{{ labels['<!channel>'] }} {{ labels['owner'] }}"
"""


def test_an_event_label_and_an_at_tag_in_event_text_mention_nobody(tmp_path: Path) -> None:
    (tmp_path / "labels.yaml").write_text(LABELS_TEMPLATE)
    message = TemplateSet(tmp_path, "").render(event_from_mapping(hostile_labels_and_text()), "labels")
    assert message.template == "labels", message
    slack, teams = render("slack", message, MENTIONS), render("teams", message, MENTIONS)
    assert isinstance(slack, dict) and isinstance(teams, dict)
    assert_only_the_configured_slack_mentions(slack, MENTIONS)
    assert_only_the_configured_teams_mentions(teams, MENTIONS)
    # The event's text is still there for the reader, only inert.
    assert "&lt;!channel&gt;" in str(slack) and "&lt;at&gt;On-call&lt;/at&gt;" in str(slack)
    card = teams["attachments"][0]["content"]
    assert card["actions"][0]["title"] == "<\u2060at>On-call<\u2060/at>"
    assert any(text.startswith("<\u2060at>On-call<\u2060/at> please look") for text in all_strings(card["body"]))


async def test_through_the_service_only_the_route_mentions_reach_slack_and_teams(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    config = {
        "channels": {"hook": slack_hook(chat_server.url), "teams": teams_hook(chat_server.url)},
        "routes": [
            {
                "name": "prod",
                "match": {"types": ["sh.keptn.>"]},
                "channels": ["hook", "teams"],
                "mentions": [
                    {"when": {"results": ["fail"]}, "slack": list(MENTIONS.slack)},
                    {"teams": [mention.model_dump() for mention in MENTIONS.teams]},
                ],
            }
        ],
    }
    async with running_service(tmp_path, config) as service:
        status, _ = await service.post_json(hostile_labels_and_text())
        assert status == 202
        await chat_server.wait_for(1, "/slack/hook")
        await chat_server.wait_for(1, "/teams/teams")
    [slack] = chat_server.received_on("/slack/hook")
    [teams] = chat_server.received_on("/teams/teams")
    assert_only_the_configured_slack_mentions(slack.json, MENTIONS)
    assert_only_the_configured_teams_mentions(teams.json, MENTIONS)
