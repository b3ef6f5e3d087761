"""Issue 12.4: a route's `mentions:` (validated at start-up), whom a notification mentions, and how each
renderer shows them. The hostile-text side is in tests/render/test_security_mentions.py, the service and CLI side in
tests/app/test_mentions_service.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifier.config.load import Config, load_config
from notifier.config.source import ConfigError
from notifier.delivery.mentions import RouteMentions
from notifier.keptn.events import KeptnEvent, event_from_mapping
from notifier.message import Fact, Link, Message, Severity
from notifier.render import RENDERERS, render
from notifier.render.mentions import NO_MENTIONS, Mentions, TeamsMention
from tests.helpers import keptn_event
from tests.payload_checks import assert_valid_slack_payload, assert_valid_teams_envelope

# The issue's example, as written there.
ISSUE_EXAMPLE = """
channels:
  prod-slack: {type: slack, webhook_url: "https://hooks.slack.com/services/T0/B0/x"}
  teams: {type: teams, webhook_url: "https://example.invalid/workflows/1?sig=s"}
routes:
  - name: prod
    match: {projects: [sockshop], stages: [production]}
    channels: [prod-slack, teams]
    mentions:
      - when: {results: [fail]}
        slack: ["<@U024BE7LH>", "<!subteam^SAZ94GDB8>", "<!here>"]
        teams: [{name: "On-call", id: "oncall@example.com"}]
"""
ON_CALL = TeamsMention(name="On-call", id="oncall@example.com")
MENTIONS = Mentions(("<@U024BE7LH>", "<!subteam^SAZ94GDB8>", "<!here>"), (ON_CALL,))
MESSAGE = Message(
    title="Quality gate failed: sockshop/production/carts",
    severity=Severity.FAILURE,
    summary="Evaluation failed",
    text="Score 42 of 100.",
    facts=(Fact("Result", "fail"),),
    links=(Link("Open in Bridge", "https://bridge.example.com/trace/ctx"),),
    footer="Keptn context ctx",
)


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "notifier.yaml"
    path.write_text(text)
    return load_config(path, env={})


def with_mentions(tmp_path: Path, mentions: object) -> Config:
    document = yaml.safe_load(ISSUE_EXAMPLE)
    document["routes"][0]["mentions"] = mentions
    return load(tmp_path, yaml.safe_dump(document))


def event(**data: Any) -> KeptnEvent:
    return event_from_mapping(keptn_event("m-1", **data))


# -- the config ------------------------------------------------------------------------------------------


def test_the_issue_example_loads_as_written(tmp_path: Path) -> None:
    [rule] = load(tmp_path, ISSUE_EXAMPLE).routes[0].mentions
    assert rule.slack == ("<@U024BE7LH>", "<!subteam^SAZ94GDB8>", "<!here>")
    assert rule.teams == (ON_CALL,)
    assert rule.when.results == ["fail"]
    # The route's match has chosen the types: a `when` without `types` holds for all of them.
    assert rule.when.types == [">"]


def test_a_route_without_mentions_has_none(tmp_path: Path) -> None:
    config = load(tmp_path, "channels: {log: {type: console}}\nroutes: [{name: r, channels: [log]}]\n")
    assert config.routes[0].mentions == ()
    assert not RouteMentions(config.routes).has("r")
    assert RouteMentions(config.routes).resolve("r", event()) is NO_MENTIONS


@pytest.mark.parametrize(
    "mention", ["<@U024BE7LH>", "<@W012A3CDE>", "<!subteam^SAZ94GDB8>", "<!here>", "<!channel>", "<!everyone>"]
)
def test_every_slack_mention_form_is_accepted(tmp_path: Path, mention: str) -> None:
    config = with_mentions(tmp_path, [{"slack": [mention]}])
    assert config.routes[0].mentions[0].slack == (mention,)


@pytest.mark.parametrize(
    "user", ["oncall@example.com", "Jane.Doe@contoso.onmicrosoft.com", "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"]
)
def test_a_teams_user_is_a_upn_or_an_object_id(tmp_path: Path, user: str) -> None:
    config = with_mentions(tmp_path, [{"teams": [{"name": "  Jane   Doe ", "id": user}]}])
    assert config.routes[0].mentions[0].teams == (TeamsMention(name="Jane Doe", id=user),)


@pytest.mark.parametrize(
    ("mentions", "message"),
    [
        ([{"slack": ["@here"]}], r"slack\[0\]: '@here' is not a Slack mention: write <!here>"),
        ([{"slack": ["U024BE7LH"]}], r"slack\[0\]: .* write <@U024BE7LH>"),
        ([{"slack": ["SAZ94GDB8"]}], r"write <!subteam\^SAZ94GDB8>"),
        ([{"slack": ["<@U024BE7LH|jane>"]}], r"drop the \|label: <@U024BE7LH>"),
        ([{"slack": ["<@u024be7lh>"]}], r"upper case: <@U024BE7LH>"),
        ([{"slack": ["@jane"]}], r"member ID, not the name"),
        ([{"slack": ["<#C042>"]}], r"a channel link notifies nobody"),
        ([{"slack": [" <!here>"]}], r"remove the spaces"),
        ([{"slack": ["<https://evil.example|click>"]}], r"write <@U…> or <@W…> for a person, <!subteam\^S…>"),
        ([{"slack": ["<!here> <!channel>"]}], r"is not a Slack mention"),
        ([{"teams": [{"name": "<at>On-call</at>", "id": "oncall@example.com"}]}], r"teams\[0\]\.name: .*name only"),
        ([{"teams": [{"name": "On\u202ecall", "id": "oncall@example.com"}]}], r"control characters"),
        ([{"teams": [{"name": " ", "id": "oncall@example.com"}]}], r"1 to 100 characters"),
        ([{"teams": [{"name": "On-call", "id": "oncall"}]}], r"teams\[0\]\.id: 'oncall' is not a Teams user id"),
        ([{"teams": [{"name": "On-call"}]}], r"teams\[0\]\.id: missing: add id"),
        ([{"teams": ["On-call"]}], r"teams\[0\]"),
        ([{"when": {"results": ["fail"]}}], r"mentions\[0\]: mentions nobody: add slack"),
        ([{"when": {"result": ["fail"]}, "slack": ["<!here>"]}], r"mentions\[0\]\.when\.result: unknown key"),
        ([{"slack": ["<!here>"], "email": ["x@example.com"]}], r"mentions\[0\]\.email: unknown key"),
        (
            [{"slack": [f"<@U{number:08d}>" for number in range(15)]}, {"slack": [f"<@W{n:08d}>" for n in range(6)]}],
            r"routes\[0\]\.mentions: 21 different Slack mentions, at most 20 per route",
        ),
        (
            [
                {"teams": [{"name": "On-call", "id": "a@example.com"}]},
                {"teams": [{"name": "On-call", "id": "b@example.com"}]},
            ],
            r"the Teams name 'On-call' stands for a@example.com, b@example.com",
        ),
    ],
)
def test_a_bad_mention_stops_start_up_naming_the_place_and_the_fix(
    tmp_path: Path, mentions: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        with_mentions(tmp_path, mentions)
    assert "routes[0].mentions" in str(caught.value)


# -- whom a notification mentions -------------------------------------------------------------------------


def test_mentions_are_those_of_the_rules_whose_when_holds(tmp_path: Path) -> None:
    config = with_mentions(
        tmp_path,
        [
            {"when": {"results": ["fail"]}, "slack": ["<!subteam^SAZ94GDB8>", "<!here>"]},
            {
                "when": {"labels": {"team": "carts"}},
                "slack": ["<!here>", "<@U024BE7LH>"],
                "teams": [ON_CALL.model_dump()],
            },
            {"when": {"stages": ["staging"]}, "slack": ["<!channel>"]},
        ],
    )
    book = RouteMentions(config.routes)
    assert book.has("prod")
    # Both of the first two hold: each mention once, in the order configured.
    both = book.resolve("prod", event(labels={"team": "carts"}))
    assert both == Mentions(("<!subteam^SAZ94GDB8>", "<!here>", "<@U024BE7LH>"), (ON_CALL,))
    assert book.resolve("prod", event(result="pass", labels={"team": "carts"})) == Mentions(
        ("<!here>", "<@U024BE7LH>"), (ON_CALL,)
    )
    assert book.resolve("prod", event(result="pass")) is NO_MENTIONS
    assert book.resolve("another-route", event()) is NO_MENTIONS


def test_a_when_without_types_holds_for_events_that_are_not_keptns(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "channels: {log: {type: console}}\n"
        "routes: [{name: all, match: {types: ['>']}, channels: [log], mentions: [{slack: ['<!here>']}]}]\n",
    )
    tekton = event_from_mapping({**keptn_event("t-1"), "type": "dev.tekton.event.pipelinerun.failed.v1"})
    assert RouteMentions(config.routes).resolve("all", tekton) == Mentions(("<!here>",))


def test_explain_says_whom_or_why_nobody(tmp_path: Path) -> None:
    book = RouteMentions(load(tmp_path, ISSUE_EXAMPLE).routes)
    assert book.explain("prod", event()) == "Slack <@U024BE7LH> <!subteam^SAZ94GDB8> <!here>; Teams @On-call"
    assert book.explain("prod", event(result="pass")) == "nobody (result 'pass' is not one of fail)"
    assert book.explain("other", event()) is None


# -- each renderer ---------------------------------------------------------------------------------------


def test_slack_gets_the_strings_as_written_under_the_header_and_in_the_notification_text() -> None:
    plain = render("slack", MESSAGE)
    payload = render("slack", MESSAGE, MENTIONS)
    assert isinstance(payload, dict) and isinstance(plain, dict)
    assert_valid_slack_payload(payload)
    mention_block = {"type": "section", "text": {"type": "mrkdwn", "text": MENTIONS.slack_markup, "verbatim": True}}
    assert payload["blocks"][1] == mention_block
    assert MENTIONS.slack_markup == "<@U024BE7LH> <!subteam^SAZ94GDB8> <!here>"
    assert payload["text"] == f"{MENTIONS.slack_markup} {plain['text']}"
    # Everything else is the payload without mentions.
    assert [block for index, block in enumerate(payload["blocks"]) if index != 1] == plain["blocks"]


def test_teams_gets_at_tags_in_a_textblock_and_the_entities_and_the_card_stays_schema_valid() -> None:
    plain = render("teams", MESSAGE)
    envelope = render("teams", MESSAGE, MENTIONS)
    assert isinstance(envelope, dict) and isinstance(plain, dict)
    assert_valid_teams_envelope(envelope)  # against the 1.5 schema, without the Teams-only `msteams`
    card = envelope["attachments"][0]["content"]
    assert card["body"][1] == {"type": "TextBlock", "text": "<at>On-call</at>", "wrap": True}
    assert card["msteams"] == {
        "width": "Full",
        "entities": [
            {
                "type": "mention",
                "text": "<at>On-call</at>",
                "mentioned": {"id": "oncall@example.com", "name": "On-call"},
            }
        ],
    }
    unchanged = copy.deepcopy(card)
    del unchanged["body"][1]
    unchanged["msteams"] = {"width": "Full"}
    assert unchanged == plain["attachments"][0]["content"]


def test_without_mentions_no_payload_changes() -> None:
    for fmt in RENDERERS:
        assert render(fmt, MESSAGE, NO_MENTIONS) == render(fmt, MESSAGE), fmt
    card = render("teams", MESSAGE)
    assert isinstance(card, dict) and "entities" not in card["attachments"][0]["content"]["msteams"]


def test_slack_only_or_teams_only_mentions_touch_only_their_platform() -> None:
    slack_only, teams_only = Mentions(("<!here>",)), Mentions(teams=(ON_CALL,))
    assert render("teams", MESSAGE, slack_only) == render("teams", MESSAGE)
    assert render("slack", MESSAGE, teams_only) == render("slack", MESSAGE)


def test_the_console_shows_whom_each_platform_would_mention() -> None:
    text = render("text", MESSAGE, MENTIONS)
    assert isinstance(text, str)
    assert text.splitlines()[1] == "  mentions: Slack <@U024BE7LH> <!subteam^SAZ94GDB8> <!here>; Teams @On-call"


def test_a_messagecard_shows_the_teams_names_and_mentions_nobody() -> None:
    card = render("messagecard", MESSAGE, MENTIONS)
    assert isinstance(card, dict)
    assert card["sections"][0] == {"text": "@On-call"}
    assert "entities" not in str(card) and "<at>" not in str(card)


def test_mentions_survive_the_shrinking_of_a_huge_message() -> None:
    people = Mentions(
        tuple(f"<@U{number:08d}>" for number in range(20)),
        tuple(TeamsMention(name=f"Person {number} " + "x" * 80, id=f"p{number}@example.com") for number in range(20)),
    )
    huge = Message(
        title="t" * 1000,
        text="line of text\n" * 5000,
        facts=tuple(Fact(f"fact {n}", "v" * 1500) for n in range(60)),
        links=tuple(Link(f"link {n}", f"https://example.com/{n}") for n in range(30)),
    )
    slack = render("slack", huge, people)
    assert isinstance(slack, dict)
    assert_valid_slack_payload(slack)
    assert slack["blocks"][1]["text"]["text"] == people.slack_markup
    teams = render("teams", huge, people)
    assert isinstance(teams, dict)
    assert_valid_teams_envelope(teams)
    card = teams["attachments"][0]["content"]
    assert card["body"][1]["text"] == people.teams_markup
    assert len(card["msteams"]["entities"]) == 20
