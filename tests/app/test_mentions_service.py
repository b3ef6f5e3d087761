"""Issue 12.4 where the route is known: delivery (from the stored notification's route, at send time), and the
`routes`, `render` and `preview` commands. Against the running service and fake Slack/Teams servers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from notifier.cli.main import main
from notifier.config.load import load_config
from notifier.keptn.events import event_from_mapping
from notifier.preview.page import Source, preview_events, preview_page
from notifier.templating import TemplateSet
from tests.fakes import FakeChatServer, Reply
from tests.helpers import (
    CONFIG_VARIABLES,
    keptn_event,
    running_service,
    slack_hook,
    teams_hook,
    write_event,
    write_yaml,
)
from tests.html_checks import Page

ON_CALL = {"name": "On-call", "id": "oncall@example.com"}


def two_routes(chat: FakeChatServer) -> dict[str, Any]:
    """`prod` mentions the on-call group on failures; `team` always mentions @here; both reach the same event."""
    return {
        "channels": {
            "prod-hook": slack_hook(chat.url, "prod"),
            "team-hook": slack_hook(chat.url, "team"),
            "teams": teams_hook(chat.url),
        },
        "routes": [
            {
                "name": "prod",
                "match": {"stages": ["production"]},
                "channels": ["prod-hook", "teams"],
                "mentions": [{"when": {"results": ["fail"]}, "slack": ["<!subteam^SAZ94GDB8>"], "teams": [ON_CALL]}],
            },
            # A channel several routes name gets the event once, from the first: `teams` stays with `prod`.
            {"name": "team", "channels": ["team-hook", "teams"], "mentions": [{"slack": ["<!here>"]}]},
        ],
    }


def slack_texts(chat: FakeChatServer, path: str) -> list[str]:
    return [item.json["text"] for item in chat.received_on(path)]


async def test_each_channel_gets_the_mentions_of_the_route_that_brought_the_event(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    async with running_service(tmp_path, two_routes(chat_server)) as service:
        assert (await service.post_json(keptn_event("fail-1")))[0] == 202
        await chat_server.wait_for(3)
        assert (await service.post_json(keptn_event("pass-1", result="pass")))[0] == 202
        await chat_server.wait_for(6)
    # The same event, rendered for two Slack channels of different routes: each with its own mentions.
    prod, team = slack_texts(chat_server, "/slack/prod"), slack_texts(chat_server, "/slack/team")
    assert prod[0].startswith("<!subteam^SAZ94GDB8> ") and not prod[1].startswith("<")
    assert all(text.startswith("<!here> ") and "subteam" not in text for text in team)
    cards = [item.json["attachments"][0]["content"] for item in chat_server.received_on("/teams/teams")]
    assert [card["msteams"].get("entities") for card in cards] == [
        [{"type": "mention", "text": "<at>On-call</at>", "mentioned": {"id": "oncall@example.com", "name": "On-call"}}],
        None,
    ]
    assert cards[0]["body"][1] == {"type": "TextBlock", "text": "<at>On-call</at>", "wrap": True}


async def test_mentions_are_resolved_at_send_time_from_the_stored_route(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    # Accepted, and in flight to Slack when the service stops: it stays queued...
    chat_server.on("/slack/prod", Reply.hang(30))
    config = two_routes(chat_server)
    del config["routes"][0]["mentions"]
    async with running_service(tmp_path, config, shutdown_grace="0.1s") as service:
        assert (await service.post_json(keptn_event("queued-1")))[0] == 202
        await chat_server.wait_for(1, "/slack/prod")
    # ...and is sent after a restart whose route has gained mentions: they come from the config that sends.
    async with running_service(tmp_path, two_routes(chat_server)):
        await chat_server.wait_for(2, "/slack/prod")
    first, second = slack_texts(chat_server, "/slack/prod")
    assert second == "<!subteam^SAZ94GDB8> " + first


# -- the commands that know the route ---------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path, chat_server: FakeChatServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Only the file, not the developer's shell, decides what the in-process CLI sees.
    for variable in CONFIG_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return write_yaml(tmp_path / "notifier.yaml", two_routes(chat_server))


def run(args: list[str | Path], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main([str(arg) for arg in args]) == 0
    return capsys.readouterr().out


def test_routes_says_whom_each_matching_route_mentions(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = write_event(tmp_path / "fail.json", keptn_event("r-1"))
    lines = run(["routes", failed, "--config", config_file], capsys).splitlines()
    assert lines[1:5] == [
        "  route prod: MATCH -> prod-hook, teams",
        "    mentions: Slack <!subteam^SAZ94GDB8>; Teams @On-call",
        "  route team: MATCH -> team-hook, teams",
        "    mentions: Slack <!here>",
    ]
    passed = write_event(tmp_path / "pass.json", keptn_event("r-2", result="pass"))
    lines = run(["routes", passed, "--config", config_file], capsys).splitlines()
    assert lines[2] == "    mentions: nobody (result 'pass' is not one of fail)"
    staging = write_event(tmp_path / "staging.json", keptn_event("r-3", stage="staging"))
    lines = run(["routes", staging, "--config", config_file], capsys).splitlines()
    assert lines[1] == "  route prod: miss (stage 'staging' is not one of production)"
    assert lines[2] == "  route team: MATCH -> team-hook, teams"


def test_render_for_a_channel_adds_the_mentions_of_the_route_that_reaches_it(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = write_event(tmp_path / "fail.json", keptn_event("r-1"))
    prod = run(["render", failed, "--config", config_file, "--channel", "prod-hook"], capsys)
    assert '"text": "<!subteam^SAZ94GDB8> ' in prod
    team = run(["render", failed, "--config", config_file, "--channel", "team-hook"], capsys)
    assert '"text": "<!here> ' in team and "subteam" not in team
    teams = run(["render", failed, "--config", config_file, "--channel", "teams"], capsys)
    assert '"text": "<at>On-call</at>"' in teams and '"entities"' in teams
    # A format is not a channel: no route, so no mentions.
    plain = run(["render", failed, "--config", config_file, "--format", "slack"], capsys)
    assert "<!" not in plain


def test_preview_shows_each_routes_mentions(tmp_path: Path, config_file: Path) -> None:
    config = load_config(config_file, env={})
    event = event_from_mapping(keptn_event("p-1"))
    [preview] = preview_events([Source("fail.json", event)], config, TemplateSet(None))
    # One template, two routes with different mentions: one pair of payloads for each.
    assert [[(d.channel, d.route) for d in rendition.deliveries] for rendition in preview.renditions] == [
        [("prod-hook", "prod"), ("teams", "prod")],
        [("team-hook", "team")],
    ]
    prod, team = preview.renditions
    assert prod.slack["text"].startswith("<!subteam^SAZ94GDB8> ") and team.slack["text"].startswith("<!here> ")
    assert prod.teams["attachments"][0]["content"]["msteams"]["entities"][0]["mentioned"]["name"] == "On-call"
    page = Page(preview_page([preview], config))
    assert page.with_class("sk-mention") and page.with_class("ac-mention")
    assert "On-call" in page.text and "@here" in page.text and "@SAZ94GDB8" in page.text


def test_check_refuses_a_bad_mention_with_the_place_and_the_fix(
    tmp_path: Path, chat_server: FakeChatServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in CONFIG_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    document = two_routes(chat_server)
    document["routes"][1]["mentions"] = [{"slack": ["@here"]}]
    config = write_yaml(tmp_path / "notifier.yaml", document)
    assert main(["check", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    # The file and the line of the key, then the place and the fix.
    assert re.search(
        rf"{re.escape(str(config))}, line \d+: routes\[1\]\.mentions\[0\]\.slack\[0\]: "
        r"'@here' is not a Slack mention: write <!here>",
        captured.err,
    ), captured.err
