"""Run threads against the running service over loopback, with the fake Slack Web API keeping the conversation."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from notifier.channels.slack import UPDATE_FIELDS, SlackConfig
from notifier.keptn.events import load_event
from notifier.render import render
from notifier.runs.message import run_message
from notifier.runs.state import run_of
from tests.fakes import UPDATE_MESSAGE, FakeChatServer, Reply, SlackMessage
from tests.helpers import EXAMPLES, RUNS, RunningService, ServiceProcess, running_service, slack_bot, teams_hook

FAILED_RUN = sorted((RUNS / "evaluation-failed").glob("*.json"))  # dev and staging, 36 events
PASSED_RUN = sorted((RUNS / "delivery-passed").glob("*.json"))  # dev, staging and production, 45 events
FAILED_CONTEXT = "a8e4d2c6-1f3b-4e5a-8c7d-9b0e2f4a6c18"
PASSED_CONTEXT = "5c1f8e2a-7d3b-4a6e-9f02-8b4d6c1e3a57"
TOKEN = "xoxb-1-2-threads"
# Alarms of their own, each the first event of its run: (example file, its context, what its run message says).
ALARMS = [
    ("problem-open-spec", "f6e5d4c3-b2a1-4098-8f7e-6d5c4b3a2910", "🚨 Problem open: Response Time Degradation"),
    ("log-error", "9f0d7c21-5b7a-4e8e-b1c3-64a2f5d8e917", "💥 sockshop/carts: error in staging test"),
    ("remediation-triggered-prometheus", "8f5a4b3c-2d1e-4f0a-9b8c-7a6f5e4d3c21", "🚨 Problem open: error_rate_high"),
    (
        "remediation-triggered-dynatrace",
        "c1a2e9b4-7d35-4f60-8e2a-0b9c3d4e5f61",
        "🚨 Problem open: Response time degradation",
    ),
]
# The titles of the failed run's first three notifications.
TITLES = ["Sequence delivery triggered", "Deployment triggered", "Deployment started"]


def bot_config(url: str, **route: Any) -> dict[str, Any]:
    return {
        "channels": {"prod": slack_bot(url, TOKEN, {"per_second": 1000, "burst": 50})},
        "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["prod"], **route}],
        "settings": {"pubsub_topic": "sh.keptn.>"},
    }


def events(files: list[Path]) -> list[dict[str, Any]]:
    return [orjson.loads(path.read_bytes()) for path in files]


async def eventually(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)


def thread_of(chat: FakeChatServer, context: str) -> tuple[SlackMessage, list[SlackMessage]]:
    (run_message,) = [m for m in chat.top_level() if context in m.shown]
    return run_message, chat.replies(run_message)


async def post_all(service: RunningService, bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        assert (await service.post(body)).status == 202


async def settled(chat: FakeChatServer, context: str, replies: int, *shows: str) -> None:
    """Until the run's thread has `replies` replies and its run message shows every one of `shows`.

    The run's first notification posts its run message, and every notification is a reply: n notifications,
    n replies.
    """

    def done() -> bool:
        found = [m for m in chat.top_level() if context in m.shown]
        return len(found) == 1 and len(chat.replies(found[0])) >= replies and all(s in found[0].shown for s in shows)

    await eventually(done, f"{replies} replies and a run message showing {shows}:\n{chat.conversation()}")


async def test_a_whole_run_in_two_stages_is_one_run_message_with_every_notification_in_its_thread(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    bodies = events(FAILED_RUN)
    async with running_service(tmp_path, bot_config(chat_server.url)) as service:
        await post_all(service, bodies)
        await settled(chat_server, FAILED_CONTEXT, len(bodies), "staging delivery failed")
        assert await service.metric("keptn_notifier_notifications_dead_total") == 0
    conversation = chat_server.conversation()
    (run_message,) = chat_server.top_level()
    replies = chat_server.replies(run_message)
    # every notification, the first included, in the order accepted, under the run message's ts (never a reply's)
    assert len(replies) == len(bodies), conversation
    assert all(reply.thread_ts == run_message.ts for reply in replies)
    first, last = replies[0].shown, replies[-1].shown
    assert ["Sequence delivery triggered" in first, "Sequence rollback" in last] == [True] * 2, conversation
    # the run message was edited in place to the run's end: the result, the stages and the score
    assert run_message.edits >= 1, conversation
    shown = run_message.shown
    assert "sockshop/carts: staging delivery failed" in shown, shown
    assert "dev 100, staging 33.33" in shown and "score 33.33" in shown, shown
    # failures are also shown in the channel: the failed evaluation and the failed delivery sequence
    broadcast = [reply.shown.splitlines()[0] for reply in replies if reply.fields.get("reply_broadcast")]
    assert len(broadcast) == 2 and all("fail" in line.lower() for line in broadcast), broadcast


async def test_twenty_events_of_one_run_posted_at_once_and_out_of_order_give_one_run_message(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    bodies = events(FAILED_RUN[:20])
    random.Random(12).shuffle(bodies)
    async with running_service(tmp_path, bot_config(chat_server.url)) as service:
        statuses = await asyncio.gather(*(service.post(body) for body in bodies))
        assert [response.status for response in statuses] == [202] * 20
        await settled(chat_server, FAILED_CONTEXT, 20, "evaluation passed (score 100)", "test passed")
    (run_message,) = chat_server.top_level()
    assert len(chat_server.replies(run_message)) == 20, chat_server.conversation()


async def test_two_interleaved_runs_give_two_threads(tmp_path: Path, chat_server: FakeChatServer) -> None:
    failed, passed = events(FAILED_RUN[:12]), events(PASSED_RUN[:12])
    interleaved = [body for pair in zip(failed, passed, strict=True) for body in pair]
    async with running_service(tmp_path, bot_config(chat_server.url)) as service:
        await post_all(service, interleaved)
        await settled(chat_server, FAILED_CONTEXT, 12, "evaluation")
        await settled(chat_server, PASSED_CONTEXT, 12, "evaluation")
    assert len(chat_server.top_level()) == 2, chat_server.conversation()
    for context in (FAILED_CONTEXT, PASSED_CONTEXT):
        _, replies = thread_of(chat_server, context)
        assert len(replies) == 12 and all(context in reply.shown for reply in replies), chat_server.conversation()


async def test_a_deleted_run_message_is_replaced_and_nothing_is_parked_as_dead(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    bodies = events(FAILED_RUN[:4])
    async with running_service(tmp_path, bot_config(chat_server.url)) as service:
        await post_all(service, bodies[:2])
        await settled(chat_server, FAILED_CONTEXT, 2, "deployment waiting")
        (deleted,) = chat_server.top_level()
        chat_server.delete(deleted.channel, deleted.ts)
        # the next reply finds its thread gone: a new run message, which shows what it said, with it as a reply
        await post_all(service, bodies[2:3])
        await settled(chat_server, FAILED_CONTEXT, 1, "deployment running")
        (replacement,) = chat_server.top_level()
        await post_all(service, bodies[3:])
        await settled(chat_server, FAILED_CONTEXT, 2, "deployment passed")
        assert await service.metric("keptn_notifier_notifications_dead_total") == 0
    assert replacement.ts != deleted.ts and chat_server.top_level() == [replacement]
    replies = [reply.shown for reply in chat_server.replies(replacement)]
    assert len(replies) == 2, chat_server.conversation()
    assert ["Deployment started" in replies[0], "Deployment succeeded" in replies[1]] == [True] * 2, replies


async def test_a_429_on_chat_update_is_honoured_and_the_newest_state_still_wins(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    chat_server.on(UPDATE_MESSAGE, Reply.api_error("ratelimited", status=429, retry_after=1))
    bodies = events(FAILED_RUN[:4])
    async with running_service(tmp_path, bot_config(chat_server.url)) as service:
        await post_all(service, bodies)
        await settled(chat_server, FAILED_CONTEXT, 4, "deployment passed")
    updates = chat_server.received_on(UPDATE_MESSAGE)
    assert len(updates) >= 2
    # the next edit waited the second Slack asked for, and so did the channel: at most the one reply that was
    # past the pacer already when the 429 came arrived meanwhile
    assert updates[1].at - updates[0].at >= 0.95
    meanwhile = [item for item in chat_server.received if 0 < item.at - updates[0].at < 0.95]
    assert len(meanwhile) <= 1, chat_server.conversation()
    # never more edits than replies that changed the run (3) and the one refused; the last shows the newest state
    assert len(updates) <= 4 and "deployment passed" in chat_server.top_level()[0].shown


async def test_a_burst_while_chat_update_is_slow_costs_one_edit_after_the_replies_with_the_newest_state(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    chat_server.answer_after(UPDATE_MESSAGE, 0.6)
    files = FAILED_RUN[:10]
    newest = render("slack", run_message(run_of(load_event(path.read_bytes()) for path in files)))
    assert isinstance(newest, dict)
    # what Slack keeps of the run message's last edit, as JSON
    expected = orjson.loads(orjson.dumps({key: newest.get(key) for key in UPDATE_FIELDS}))

    def shown() -> dict[str, Any]:
        (run_message,) = chat_server.top_level()
        return {key: run_message.fields.get(key) for key in UPDATE_FIELDS}

    config = bot_config(chat_server.url)
    config["channels"]["prod"]["rate_limit"] = SlackConfig.default_rate_limit()
    async with running_service(tmp_path, config) as service:
        # ten notifications of one run, accepted together (well within 50 ms of one another)
        statuses = await asyncio.gather(*(service.post(body) for body in events(files)))
        assert [response.status for response in statuses] == [202] * 10
        await settled(chat_server, FAILED_CONTEXT, 10)
        # Once the run message shows the state after all ten, no edit is left to come: edits go one at a time,
        # each with the newest state queued, and the tenth reply queued the last.
        await eventually(lambda: shown() == expected, f"the state after all ten:\n{chat_server.conversation()}")
    updates = chat_server.received_on(UPDATE_MESSAGE)
    # the edits yielded to the replies waiting for the pacer (nine edits, one between each two, before)
    assert 1 <= len(updates) <= 5, chat_server.conversation()
    assert chat_server.most_updates_at_once == 1


async def test_threading_off_posts_every_notification_on_its_own_as_before(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    async with running_service(tmp_path, bot_config(chat_server.url, threading="off")) as service:
        await post_all(service, events(FAILED_RUN[:3]))
        await eventually(lambda: len(chat_server.top_level()) == 3, "three top-level messages")
    assert chat_server.received_on(UPDATE_MESSAGE) == []
    assert all(not chat_server.replies(message) for message in chat_server.top_level())


async def test_a_configured_broadcast_replaces_the_default_and_off_turns_it_off(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    # files 01 (sequence triggered) to 04 (deployment finished, passed): nothing the default would broadcast
    bodies = events(FAILED_RUN[:4])
    route = {"broadcast": {"types": ["sh.keptn.event.deployment.finished"]}}
    async with running_service(tmp_path, bot_config(chat_server.url, **route)) as service:
        await post_all(service, bodies)
        await settled(chat_server, FAILED_CONTEXT, 4)
    _, replies = thread_of(chat_server, FAILED_CONTEXT)
    assert [bool(reply.fields.get("reply_broadcast")) for reply in replies] == [False, False, False, True]

    failure = events([FAILED_RUN[0], FAILED_RUN[29]])  # the failed evaluation, in the thread of its run
    (tmp_path / "off").mkdir()
    async with running_service(tmp_path / "off", bot_config(chat_server.url, broadcast="off")) as service:
        await post_all(service, failure)
        # 5 before (the run message and its 4 replies), then this run message and its 2 replies
        await eventually(lambda: len(chat_server.received_on("/api/chat.postMessage")) == 8, "run message, 2 replies")
    last = chat_server.received_on("/api/chat.postMessage")[-1].json
    assert "thread_ts" in last and "reply_broadcast" not in last


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((EXAMPLES / f"{name}.json").read_bytes())
    return body


async def test_alarms_head_their_run_message_and_are_also_shown_in_the_channel(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    passing = events([FAILED_RUN[0], FAILED_RUN[3]])  # the sequence triggered, then a deployment that passed
    async with running_service(tmp_path, bot_config(chat_server.url)) as service:
        await post_all(service, [example(name) for name, _, _ in ALARMS] + passing)
        for _, context, title in ALARMS:
            await settled(chat_server, context, 1, title)
        await settled(chat_server, FAILED_CONTEXT, 2, "dev delivery running")
        assert await service.metric("keptn_notifier_notifications_dead_total") == 0
    conversation = chat_server.conversation()
    for _, context, title in ALARMS:
        run_message, [reply] = thread_of(chat_server, context)
        # the parent says the alarm, in its fallback text (what a notification shows) too, never "waiting"
        assert run_message.fields["text"].startswith(title.split(" ", 1)[1]), conversation
        assert title in run_message.shown and "waiting" not in run_message.shown, conversation
        assert reply.fields.get("reply_broadcast") is True and reply.thread_ts == run_message.ts, conversation
    _, replies = thread_of(chat_server, FAILED_CONTEXT)
    assert [reply.fields.get("reply_broadcast") for reply in replies] == [None, None], conversation


async def test_a_resolved_problem_edits_its_run_message_and_is_not_broadcast(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    _, context, opened = ALARMS[-1]
    async with running_service(tmp_path, bot_config(chat_server.url)) as service:
        await post_all(service, [example("remediation-triggered-dynatrace")])
        await settled(chat_server, context, 1, opened)
        await post_all(service, [example("problem-legacy-resolved")])
        await settled(chat_server, context, 2, "✅ Problem resolved: Response time degradation")
    _, replies = thread_of(chat_server, context)
    assert [reply.fields.get("reply_broadcast") for reply in replies] == [True, None], chat_server.conversation()


async def test_broadcast_off_and_a_broadcast_match_hold_for_alarms_too(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    bodies = [example(name) for name, _, _ in ALARMS]
    log_only = {"broadcast": {"types": ["sh.keptn.log.error"]}}
    for label, route, expected in (("off", {"broadcast": "off"}, set()), ("match", log_only, {"log-error"})):
        chat_server.messages.clear()
        (tmp_path / label).mkdir()
        async with running_service(tmp_path / label, bot_config(chat_server.url, **route)) as service:
            await post_all(service, bodies)
            for _, context, title in ALARMS:
                await settled(chat_server, context, 1, title)
        broadcast = set()
        for name, context, _ in ALARMS:
            _, [reply] = thread_of(chat_server, context)
            if reply.fields.get("reply_broadcast"):
                broadcast.add(name)
        assert broadcast == expected, (label, chat_server.conversation())


async def test_webhook_and_teams_channels_are_not_threaded(tmp_path: Path, chat_server: FakeChatServer) -> None:
    config = bot_config(chat_server.url)
    config["channels"]["teams"] = teams_hook(chat_server.url)
    config["routes"][0]["channels"] = ["teams"]
    async with running_service(tmp_path, config) as service:
        await post_all(service, events(FAILED_RUN[:3]))
        await chat_server.wait_for(3, "/teams/teams")
    assert chat_server.received_on("/api/chat.postMessage") == []


async def test_a_restart_between_two_events_keeps_the_thread(tmp_path: Path, chat_server: FakeChatServer) -> None:
    bodies = events(FAILED_RUN[:3])
    service = ServiceProcess(bot_config(chat_server.url), tmp_path)
    service.start()
    try:
        # A new connection for every request: the one kept alive dies with the process.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:

            async def post(body: dict[str, Any]) -> None:
                headers = {"Content-Type": "application/cloudevents+json"}
                async with session.post(service.url, data=orjson.dumps(body), headers=headers) as response:
                    assert response.status == 202

            await post(bodies[0])
            await post(bodies[1])
            await settled(chat_server, FAILED_CONTEXT, 2)
            service.kill()
            service.start()
            await post(bodies[2])
            await settled(chat_server, FAILED_CONTEXT, 3, "deployment running")
    finally:
        service.close()
    (run_message,) = chat_server.top_level()
    replies = chat_server.replies(run_message)
    assert all(reply.thread_ts == run_message.ts for reply in replies), chat_server.conversation()
    # the three notifications in order; the kill may come between the second's 2xx and its commit, and then it is
    # sent once more after the restart (README: at most one duplicate per send in flight at a crash)
    titles = [next(t for t in TITLES if t in reply.shown) for reply in replies]
    assert titles in (TITLES, [TITLES[0], TITLES[1], TITLES[1], TITLES[2]]), chat_server.conversation()
