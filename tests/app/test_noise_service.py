"""Issue 12.5 in the running service: repeats suppressed, a digest after a burst (also across a restart), the
metrics by route and channel, and `keptn-notifier routes`. Over loopback, with the fake Slack/Teams server;
windows of a few seconds. Quiet hours, which need the wall clock at night, are in tests/pipeline/test_noise_stage.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from notifier.cli.main import main
from notifier.config.load import load_config
from tests.fakes import FakeChatServer
from tests.helpers import keptn_event, running_service, slack_hook, teams_hook, write_event, write_yaml

SLACK = "/slack/prod"
TEAMS = "/teams/teams"


def noisy_config(chat: FakeChatServer, **noise: Any) -> dict[str, Any]:
    return {
        "channels": {"prod-hook": slack_hook(chat.url, "prod"), "teams": teams_hook(chat.url)},
        "routes": [{"name": "prod", "channels": ["prod-hook", "teams"], **noise}],
    }


def texts(chat: FakeChatServer, path: str) -> list[str]:
    return [orjson.dumps(item.json).decode() for item in chat.received_on(path)]


async def test_a_repeat_within_the_interval_is_not_sent_and_is_counted(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    config = noisy_config(chat_server, repeat_interval="2s")
    async with running_service(tmp_path, config) as service:
        # Same type, project, stage, service and result: new ids and times do not make it news.
        for number in range(3):
            event = {**keptn_event(f"rep-{number}"), "time": f"2026-11-20T10:00:0{number}.000Z"}
            assert (await service.post(event)).status == 202
        await chat_server.wait_for(1, SLACK)
        await chat_server.wait_for(1, TEAMS)
        other = keptn_event("rep-other", service="orders")
        assert (await service.post(other)).status == 202
        await chat_server.wait_for(2, SLACK)
        assert (
            await service.metric("keptn_notifier_notifications_suppressed_total", route="prod", channel="prod-hook")
            == 2
        )
        assert await service.metric("keptn_notifier_notifications_suppressed_total", route="prod", channel="teams") == 2
        # After the interval the same news is sent again.
        await asyncio.sleep(2.1)
        assert (await service.post(keptn_event("rep-late"))).status == 202
        await chat_server.wait_for(3, SLACK)
        slack = texts(chat_server, SLACK)
    assert len(slack) == 3 and "held" not in " ".join(slack)  # no summary of the suppressed ones
    assert "orders" in slack[1] and "carts" in slack[2]


async def test_a_pass_after_a_failure_that_said_pass_is_news(tmp_path: Path, chat_server: FakeChatServer) -> None:
    """Issue 17: the repeat key's result is the worst the event reports, as routes and the message see it.

    Keptn's own example says `result: pass` beside `evaluation.result: fail`: shown as failed, so the next
    evaluation that really passes is news ("passed again"), even inside the interval.
    """
    config = noisy_config(chat_server, repeat_interval="10m")
    said_pass = keptn_event("said-pass", result="pass", evaluation={"result": "fail", "score": 0})
    passed = [keptn_event(f"passed-{number}", result="pass", evaluation={"result": "pass"}) for number in range(2)]
    async with running_service(tmp_path, config) as service:
        for event in (said_pass, *passed):
            assert (await service.post(event)).status == 202
        await chat_server.wait_for(2, SLACK)
        await chat_server.wait_for(2, TEAMS)
        # The second genuine pass is a repeat of the first: noise control is on.
        assert (
            await service.metric("keptn_notifier_notifications_suppressed_total", route="prod", channel="prod-hook")
            == 1
        )
        slack = texts(chat_server, SLACK)
    assert len(slack) == 2
    assert "Evaluation failed" in slack[0] and "Evaluation passed" in slack[1]


async def test_past_after_the_rest_of_a_window_goes_out_as_one_digest_per_channel(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    config = noisy_config(chat_server, digest={"after": 2, "window": "3s"})
    async with running_service(tmp_path, config, bridge_url="https://keptn.example.com/bridge") as service:
        for number, name in enumerate(["carts", "orders", "payment", "shipping", "users"]):
            assert (await service.post(keptn_event(f"dig-{number}", service=name))).status == 202
        await chat_server.wait_for(2, SLACK)
        await chat_server.wait_for(2, TEAMS)
        assert await service.metric("keptn_notifier_notifications_held_total", route="prod", channel="prod-hook") == 3
        assert await service.metric("keptn_notifier_notifications_held_total", route="prod", channel="teams") == 3
        assert len(chat_server.received_on(SLACK)) == 2  # the rest wait for the window's end
        await chat_server.wait_for(3, SLACK, timeout=10)
        await chat_server.wait_for(3, TEAMS, timeout=10)
    for path in (SLACK, TEAMS):
        sent = texts(chat_server, path)
        assert len(sent) == 3
        digest = sent[2]
        assert "3 notifications held after more than 2 within 3s" in digest
        # every held one is listed, none of those sent one by one
        assert all(name in digest for name in ("payment", "shipping", "users"))
        assert "orders" not in digest
        assert "https://keptn.example.com/bridge/trace/ctx-dig-4" in digest


async def test_a_restart_during_the_digest_window_loses_nothing(tmp_path: Path, chat_server: FakeChatServer) -> None:
    config = noisy_config(chat_server, digest={"after": 1, "window": "3s"})
    async with running_service(tmp_path, config) as service:
        for number, name in enumerate(["carts", "orders", "payment"]):
            assert (await service.post(keptn_event(f"rs-{number}", service=name))).status == 202
        await chat_server.wait_for(1, SLACK)
        assert await service.metric("keptn_notifier_notifications_held_total", route="prod", channel="prod-hook") == 2
    assert len(chat_server.received_on(SLACK)) == 1
    async with running_service(tmp_path, config) as service:
        # The window goes on after the restart: a fourth in it is held too, and goes in the same digest.
        assert (await service.post(keptn_event("rs-3", service="shipping"))).status == 202
        await chat_server.wait_for(2, SLACK, timeout=10)
        await chat_server.wait_for(2, TEAMS, timeout=10)
    for path in (SLACK, TEAMS):
        first, digest = texts(chat_server, path)
        assert "carts" in first
        assert "3 notifications held" in digest
        assert all(name in digest for name in ("orders", "payment", "shipping"))


def test_routes_says_when_a_route_would_hold_or_suppress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_yaml(
        tmp_path / "notifier.yaml",
        {
            "channels": {"log": {"type": "console"}},
            "routes": [
                {
                    "name": "prod",
                    "channels": ["log"],
                    "repeat_interval": "10m",
                    "digest": {"after": 5, "window": "5m"},
                    "quiet_hours": {"from": "22:00", "to": "07:00", "timezone": "Europe/Vienna"},
                },
                {"name": "plain", "channels": ["log"]},
            ],
        },
    )
    event = write_event(tmp_path / "event.json", keptn_event("cli-1"))
    capsys.readouterr()
    assert main(["routes", str(event), "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  route prod: MATCH -> log"
    assert lines[2] == (
        "    noise: repeat_interval 10m: not sent again when a notification with the same type, project, stage, "
        "service, result was sent to the channel in the last 10m"
    )
    assert lines[3].startswith("    noise: digest: past 5 notifications to one channel within 5m")
    assert lines[4].startswith("    noise: quiet_hours 22:00\N{EN DASH}07:00 Europe/Vienna: ")
    assert lines[5] == "  route plain: MATCH -> log"


def test_the_nats_store_takes_noise_control_as_sqlite_does(tmp_path: Path) -> None:
    config = write_yaml(
        tmp_path / "notifier.yaml",
        {
            "channels": {"log": {"type": "console"}},
            "routes": [
                {"name": "p", "channels": ["log"], "repeat_interval": "1m", "digest": {"after": 2, "window": "1m"}}
            ],
        },
    )
    loaded = load_config(config, env={"NOTIFIER_STORE": "nats"})
    assert loaded.settings.store == "nats"
    assert [(route.name, route.active) for route in loaded.routes] == [("p", True)]
