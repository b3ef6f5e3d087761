"""Retries, pacing and dead letters against a fault-injecting fake Slack and Teams."""

import asyncio
import logging
import time
from pathlib import Path

import pytest

from tests.fakes import FakeChatServer, Reply
from tests.helpers import every_route, keptn_event, running_service, slack_hook, teams_hook


async def test_retry_after_is_honoured_for_that_channel_only(tmp_path: Path, chat_server: FakeChatServer) -> None:
    chat_server.on("/slack/slow", Reply.rate_limited(retry_after=2))
    # A paced channel (as Slack channels are by default) sends one at a time, so every send after the 429
    # starts after its answer.
    slow = {**slack_hook(chat_server.url, "slow"), "rate_limit": {"per_second": 50, "burst": 10}}
    config = {
        "channels": {"slow": slow, "fast": slack_hook(chat_server.url, "fast")},
        "routes": every_route("slow", "fast"),
    }
    async with running_service(tmp_path, config) as svc:
        for index in range(5):
            await svc.post_json(keptn_event(f"e{index}"))
        await chat_server.wait_for(5, "/slack/fast")
        await chat_server.wait_for(6, "/slack/slow", timeout=15)
        assert await svc.metric("keptn_notifier_notifications_failed_total", channel="slow", reason="rate_limited") == 1
    slow = chat_server.received_on("/slack/slow")
    fast = chat_server.received_on("/slack/fast")
    throttled_at = slow[0].at
    # no send to the throttled channel before Retry-After elapsed (tolerance for clock granularity)
    assert all(item.at >= throttled_at + 2 - 0.05 for item in slow[1:])
    # while the other channel delivered everything inside that window
    assert all(item.at < throttled_at + 2 for item in fast)
    assert len(slow) == 6 and len(fast) == 5


@pytest.mark.parametrize(
    "fault",
    [Reply.server_error(), Reply.server_error(503), Reply.connection_reset(), Reply.hang(3)],
    ids=["500", "503", "reset", "timeout"],
)
async def test_transient_failures_are_retried_until_delivered_once(
    tmp_path: Path, chat_server: FakeChatServer, fault: Reply
) -> None:
    chat_server.on("/slack/hook", fault, fault)
    hook = {**slack_hook(chat_server.url), "timeout": 1}
    async with running_service(tmp_path, {"channels": {"hook": hook}, "routes": every_route("hook")}) as svc:
        await svc.post_json(keptn_event())
        await chat_server.wait_for(3, "/slack/hook", timeout=20)
        await asyncio.sleep(0.3)
        assert await svc.metric("keptn_notifier_notifications_sent_total", channel="hook") == 1
        assert await svc.metric("keptn_notifier_notifications_retries_total", channel="hook") == 2
    assert len(chat_server.received_on("/slack/hook")) == 3


@pytest.mark.parametrize(
    ("path", "reply", "reason"),
    [
        ("/slack/hook", Reply.slack_error(404, "no_service"), "no_service"),
        ("/slack/hook", Reply.slack_error(410, "channel_is_archived"), "channel_is_archived"),
        ("/slack/hook", Reply.slack_error(400, "invalid_blocks"), "invalid_blocks"),
        ("/teams/teams", Reply(status=404, body=""), "http_404"),
    ],
)
async def test_permanent_errors_park_the_notification_as_dead_once(
    tmp_path: Path,
    chat_server: FakeChatServer,
    caplog: pytest.LogCaptureFixture,
    path: str,
    reply: Reply,
    reason: str,
) -> None:
    chat_server.on(path, reply)
    channel = "teams" if "teams" in path else "hook"
    config = {
        "channels": {"hook": slack_hook(chat_server.url), "teams": teams_hook(chat_server.url)},
        "routes": every_route(channel),
    }
    with caplog.at_level(logging.ERROR, logger="notifier.delivery"):
        async with running_service(tmp_path, config) as svc:
            await svc.post_json(keptn_event())
            await chat_server.wait_for(1, path)
            letters = []
            for _ in range(100):
                letters = await svc.service.store.dead_letters()
                if letters:
                    break
                await asyncio.sleep(0.02)
            assert [letter.channel for letter in letters] == [channel]
            assert letters[0].reason.startswith(reason)
            assert await svc.metric("keptn_notifier_notifications_dead_total", channel=channel, reason=reason) == 1
            await asyncio.sleep(0.3)
    assert len(chat_server.received_on(path)) == 1  # no retry storm
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "dead" in r.getMessage()]
    assert len(errors) == 1 and channel in errors[0].getMessage() and reason in errors[0].getMessage()


async def test_a_notification_older_than_the_maximum_age_is_parked(tmp_path: Path, chat_server: FakeChatServer) -> None:
    chat_server.on("/slack/hook", *[Reply.server_error()] * 50)
    config = {"channels": {"hook": slack_hook(chat_server.url)}, "routes": every_route("hook")}
    async with running_service(tmp_path, config, retry_max_age="0.5s", retry_max_backoff="0.1s") as svc:
        await svc.post_json(keptn_event())
        letters = []
        deadline = time.monotonic() + 10
        while not letters and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            letters = await svc.service.store.dead_letters()
        assert letters and letters[0].reason.startswith("expired")


async def test_pacing_spreads_sends_at_the_configured_rate(tmp_path: Path, chat_server: FakeChatServer) -> None:
    hook = {**slack_hook(chat_server.url), "rate_limit": {"per_second": 10, "burst": 2}}
    async with running_service(tmp_path, {"channels": {"hook": hook}, "routes": every_route("hook")}) as svc:
        await svc.post_json([keptn_event(f"p{i}") for i in range(8)], "application/cloudevents-batch+json")
        await chat_server.wait_for(8, "/slack/hook")
    times = [item.at for item in chat_server.received_on("/slack/hook")]
    # 2 in the burst, then 6 more at 10/s: at least ~0.6 s from first to last
    assert times[-1] - times[0] >= 0.5


async def test_sends_failing_together_count_as_one_failure_for_the_backoff(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    """16 sends in flight when an outage starts must not push the backoff to its cap at once."""
    chat_server.on("/slack/hook", *[Reply(status=503, body="down", delay=0.2)] * 16)
    config = {"channels": {"hook": slack_hook(chat_server.url)}, "routes": every_route("hook")}
    async with running_service(tmp_path, config, retry_initial_backoff="1s", retry_max_backoff="60s") as svc:
        await svc.post_json([keptn_event(f"o{i}") for i in range(16)], "application/cloudevents-batch+json")
        await chat_server.wait_for(17, "/slack/hook", timeout=15)
        arrivals = [item.at for item in chat_server.received_on("/slack/hook")]
        # first retry after the first backoff step (0.5-1 s after the failures), not after the 60 s cap
        assert arrivals[16] - arrivals[15] < 5
        await chat_server.wait_for(32, "/slack/hook", timeout=15)
