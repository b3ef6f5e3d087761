"""Issue 19, silences, in the running service over loopback with the fake Slack and Teams: by HTTP and by the CLI,
a queued backlog, the summary when a silence ends (none with --drop), a restart, two services on one NATS store,
and the 400s, 401s and 403s of the API."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.fakes import POST_MESSAGE, UPDATE_MESSAGE, FakeChatServer, Reply
from tests.helpers import RunningService, keptn_event, run_cli, running_service, slack_bot, slack_hook, teams_hook
from tests.nats_server import NatsServer, drop_streams, nats_server

__all__ = ["nats_server"]  # the fixture: one NATS server for the module

SLACK = "/slack/prod"
TEAMS = "/teams/teams"
TOKEN = "admin-secret-token"
AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}
ENV = {"NOTIFIER_ADMIN_TOKEN": TOKEN}
# Long enough for any step on a busy machine; every wait is a poll that ends as soon as it holds.
WAIT = 30.0
PREFIXES = (f"silences{index}" for index in itertools.count())


def config(chat: FakeChatServer) -> dict[str, Any]:
    return {
        "channels": {"prod-hook": slack_hook(chat.url, "prod"), "teams": teams_hook(chat.url)},
        "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["prod-hook", "teams"]}],
        "settings": {"pubsub_topic": "sh.keptn.>"},
    }


async def api(
    service: RunningService, method: str, path: str = "", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
    url = f"{service.admin_url}/api/v1/silences{path}"
    async with service.session.request(method, url, data=data, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def add(service: RunningService, *matchers: str, **fields: Any) -> str:
    body = {"matchers": list(matchers), "duration": "1h", "comment": "maintenance", "createdBy": "alice", **fields}
    status, answer = await api(service, "POST", body=body, headers=AUTHORIZED)
    assert status == 200, answer
    return str(answer["silenceID"])


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        done = check()
        if done if isinstance(done, bool) else await done:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


def shown(chat: FakeChatServer, path: str) -> list[str]:
    return [item.body.decode() for item in chat.received_on(path)]


async def drained(service: RunningService) -> bool:
    return await service.service.store.stats() == {}


async def test_a_silence_added_over_http_mutes_exactly_what_it_matches(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    async with running_service(tmp_path, config(chat_server), env=ENV) as service:
        status, answer = await api(
            service,
            "POST",
            body={
                "matchers": ["stage=production", "channel=teams"],
                "duration": "1h",
                "comment": "c",
                "createdBy": "a",
            },
            headers=AUTHORIZED,
        )
        assert status == 200 and answer["touches"] == {"all": ["teams"]}, answer
        for event in (keptn_event("in-prod"), keptn_event("in-staging", stage="staging", project="staged")):
            assert (await service.post(event)).status == 202
        await chat_server.wait_for(2, SLACK, timeout=WAIT)
        await chat_server.wait_for(1, TEAMS, timeout=WAIT)
        await eventually(lambda: drained(service), "the outbox drained")
        assert await service.metric("keptn_notifier_notifications_silenced_total", route="all", channel="teams") == 1
        status, listed = await api(service, "GET")
        assert status == 200
        (one,) = listed
        assert (one["id"], one["matchers"], one["status"], one["muted"], one["mutedByChannel"]) == (
            answer["silenceID"],
            ["stage=production", "channel=teams"],
            {"state": "active"},
            1,
            {"teams": 1},
        )
        assert (one["createdBy"], one["comment"], one["drop"]) == ("a", "c", False)
    assert len(chat_server.received_on(TEAMS)) == 1 and "staged" in shown(chat_server, TEAMS)[0]
    assert sorted("staged" in text for text in shown(chat_server, SLACK)) == [False, True]


async def test_a_silence_added_by_the_cli_applies_is_listed_expired_and_summarised(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    state = tmp_path / "state"
    async with running_service(tmp_path, config(chat_server)) as service:
        added = await run_cli(
            "silence",
            "add",
            "service=carts",
            "--for",
            "1h",
            "--comment",
            "deploy",
            "--author",
            "bob",
            "--config",
            tmp_path / "notifier.yaml",
        )
        assert added.code == 0, added
        silence, *reach = added.stdout.splitlines()
        assert reach[1:] == ["can touch:", "  route all -> prod-hook, teams"], added
        # a replica reads the store again at least every two seconds
        await eventually(lambda: not service.service.silences.idle, "the service read the CLI's silence")
        for event in (keptn_event("carts-1"), keptn_event("orders-1", service="orders"), keptn_event("carts-2")):
            assert (await service.post(event)).status == 202
        await chat_server.wait_for(1, SLACK, timeout=WAIT)
        await chat_server.wait_for(1, TEAMS, timeout=WAIT)
        await eventually(lambda: drained(service), "the outbox drained")
        listed = await run_cli("silence", "list", "--state-dir", state)
        assert listed.code == 0, listed
        assert listed.stdout.splitlines()[0].startswith(f"{silence}  active ")
        assert "muted 4  by bob: deploy" in listed.stdout and "service=carts" in listed.stdout
        expired = await run_cli("silence", "expire", silence, "nobody", "--state-dir", state)
        assert (expired.code, expired.stdout) == (1, f"expired {silence}\n"), expired
        assert "not a silence: nobody" in expired.stderr
        assert (await run_cli("silence", "list", "--state-dir", state)).stdout.startswith("no silences")
        assert silence in (await run_cli("silence", "list", "--expired", "--state-dir", state)).stdout
        # the summary, once per channel, when every replica has seen the end
        await chat_server.wait_for(2, SLACK, timeout=WAIT)
        await chat_server.wait_for(2, TEAMS, timeout=WAIT)
        assert all("orders" in shown(chat_server, path)[0] for path in (SLACK, TEAMS))
        for path in (SLACK, TEAMS):
            summary = shown(chat_server, path)[1]
            assert "While muted by deploy, bob: 2 notifications: 2 evaluations failed" in summary, summary
            assert silence in summary
        # a normal event goes out again
        assert (await service.post(keptn_event("carts-3"))).status == 202
        await chat_server.wait_for(3, SLACK, timeout=WAIT)
    assert len(chat_server.received_on(SLACK)) == 3


async def test_a_backlog_queued_before_the_silence_is_muted_when_its_turn_comes(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    # The first send is throttled: the rest wait behind it in the channel's queue.
    chat_server.on(SLACK, Reply.rate_limited(retry_after=2))
    # Paced: one send at a time, in order.
    cfg = {
        "channels": {
            "prod-hook": {**slack_hook(chat_server.url, "prod"), "rate_limit": {"per_second": 100, "burst": 1}}
        },
        "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["prod-hook"]}],
    }
    async with running_service(tmp_path, cfg, env=ENV) as service:
        backlog = [keptn_event("b-1"), keptn_event("b-2"), keptn_event("b-3", service="orders")]
        for event in backlog:
            assert (await service.post(event)).status == 202
        await chat_server.wait_for(1, SLACK, timeout=WAIT)
        await add(service, "service=carts")
        await chat_server.wait_for(2, SLACK, timeout=WAIT)
        await eventually(lambda: drained(service), "the backlog drained")
        assert await service.metric("keptn_notifier_notifications_silenced_total", channel="prod-hook") == 2
        assert await service.metric("keptn_notifier_notifications_sent_total", channel="prod-hook") == 1
    first, second = shown(chat_server, SLACK)
    assert "carts" in first and "orders" in second
    assert len(chat_server.received_on(SLACK)) == 2


async def test_in_a_slack_bot_channel_a_muted_notification_posts_no_reply_and_edits_no_run_message(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    cfg = {
        "channels": {"prod": slack_bot(chat_server.url, "xoxb-1-2-silences")},
        "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["prod"]}],
        "settings": {"pubsub_topic": "sh.keptn.>"},
    }
    run = [
        keptn_event("s-1", "sh.keptn.event.deployment.finished", result="pass"),
        keptn_event("s-2", "sh.keptn.event.test.finished", result="pass"),
        keptn_event("s-3"),
    ]
    for event in run:
        event["shkeptncontext"] = "ctx-one-run"
    async with running_service(tmp_path, cfg, env=ENV) as service:
        assert (await service.post(run[0])).status == 202
        await chat_server.wait_for(2, POST_MESSAGE, timeout=WAIT)  # the run message, and its first reply
        chat_server.on(POST_MESSAGE, Reply.api_error("ratelimited", 429, retry_after=2))
        for event in run[1:]:
            assert (await service.post(event)).status == 202
        await chat_server.wait_for(3, POST_MESSAGE, timeout=WAIT)  # the throttled reply
        await add(service, "type=~sh.keptn.event.(test|evaluation).finished")
        await eventually(lambda: drained(service), "the thread's backlog drained")
        assert await service.metric("keptn_notifier_notifications_silenced_total", channel="prod") == 2
    (run_message,) = chat_server.top_level()
    assert len(chat_server.replies(run_message)) == 1
    assert run_message.edits == 0 and chat_server.received_on(UPDATE_MESSAGE) == []
    assert len(chat_server.received_on(POST_MESSAGE)) == 3


async def test_a_short_silence_ends_with_one_summary_per_channel_and_one_added_with_drop_with_none(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    async with running_service(tmp_path, config(chat_server), env=ENV) as service:
        summarised = await add(service, "service=carts", duration="3s", comment="short maintenance")
        dropped = await add(service, "service=orders", duration="3s", drop=True)
        events = [keptn_event("c-1"), keptn_event("c-2", "sh.keptn.event.deployment.finished", result="pass")]
        for event in (*events, keptn_event("o-1", service="orders")):
            assert (await service.post(event)).status == 202
        await chat_server.wait_for(1, SLACK, timeout=WAIT)
        await chat_server.wait_for(1, TEAMS, timeout=WAIT)
        records = service.service.storage.silences

        async def both_done() -> bool:
            return all(record.summarised for record in await records.silences())

        await eventually(both_done, "both silences ended and were summarised")
        await eventually(lambda: drained(service), "the summaries were sent")
    for path in (SLACK, TEAMS):
        (summary,) = shown(chat_server, path)
        said = "While muted by short maintenance, alice: 2 notifications: 1 evaluation failed, 1 deployment passed"
        assert said in summary and summarised in summary and dropped not in summary


async def test_a_silence_survives_a_restart(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, config(chat_server), env=ENV) as service:
        silence = await add(service, "project=sockshop")
    async with running_service(tmp_path, config(chat_server), env=ENV) as service:
        assert (await service.post(keptn_event("after-restart"))).status == 202
        assert (await service.post(keptn_event("other", project="podtato"))).status == 202
        await chat_server.wait_for(1, SLACK, timeout=WAIT)
        await eventually(lambda: drained(service), "the outbox drained")
        assert await service.metric("keptn_notifier_notifications_silenced_total") == 2
        _, (listed,) = await api(service, "GET")
        assert (listed["id"], listed["muted"]) == (silence, 2)
    assert ["podtato" in text for text in shown(chat_server, SLACK)] == [True]


async def test_two_services_on_one_nats_store_share_a_silence(
    tmp_path: Path, chat_server: FakeChatServer, nats_server: NatsServer
) -> None:
    prefix = next(PREFIXES)
    nats = {"store": "nats", "nats_url": nats_server.url, "nats_prefix": prefix, "nats_jetstream": False}
    try:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        async with (
            running_service(tmp_path / "a", config(chat_server), env=ENV, **nats) as first,
            running_service(tmp_path / "b", config(chat_server), env=ENV, **nats) as second,
        ):
            silence = await add(first, "service=carts")
            await eventually(lambda: not second.service.silences.idle, "the other replica read the silence")
            assert (await second.post(keptn_event("via-second"))).status == 202
            assert (await second.post(keptn_event("sent", service="orders"))).status == 202
            await chat_server.wait_for(1, SLACK, timeout=WAIT)
            await eventually(lambda: drained(second), "the outbox drained")
            assert await second.metric("keptn_notifier_notifications_silenced_total") == 2
            # expired through the other one: both stop muting, and one summary per channel goes out
            status, answer = await api(second, "DELETE", f"/{silence}", headers=AUTHORIZED)
            assert status == 200 and answer["silenceID"] == silence
            await eventually(lambda: first.service.silences.idle, "the first replica read the end")
            await chat_server.wait_for(2, SLACK, timeout=WAIT)
            await chat_server.wait_for(2, TEAMS, timeout=WAIT)
            assert (await first.post(keptn_event("via-first"))).status == 202
            await chat_server.wait_for(3, SLACK, timeout=WAIT)
            await eventually(lambda: drained(first), "the outbox drained")
            _, listed = await api(first, "GET")
            assert [(one["id"], one["status"]["state"], one["muted"]) for one in listed] == [(silence, "expired", 2)]
    finally:
        await drop_streams(nats_server.url, prefix)
    slack = shown(chat_server, SLACK)
    assert "orders" in slack[0] and "While muted by maintenance, alice: 1 notification" in slack[1]
    assert sum("While muted by" in text for text in slack + shown(chat_server, TEAMS)) == 2
    assert "carts" in slack[2]


# -- what the API refuses ------------------------------------------------------------------------------------------


async def test_writes_need_the_admin_token_and_reads_are_open(tmp_path: Path, chat_server: FakeChatServer) -> None:
    body = {"matchers": ["stage=production"], "duration": "1h", "comment": "c", "createdBy": "a"}
    async with running_service(tmp_path, config(chat_server)) as service:
        for method, path in (("POST", ""), ("DELETE", "/some-id")):
            status, answer = await api(service, method, path, body=body, headers=AUTHORIZED)
            assert status == 403 and "set NOTIFIER_ADMIN_TOKEN" in answer["error"], answer
        assert await api(service, "GET") == (200, [])
    async with running_service(tmp_path, config(chat_server), env=ENV) as service:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            status, answer = await api(service, "POST", body=body, headers=headers)
            assert status == 401 and "Authorization: Bearer" in answer["error"], (headers, answer)
        status, answer = await api(service, "DELETE", "/some-id", headers=AUTHORIZED)
        assert status == 404 and "no silence some-id" in answer["error"]
        assert await api(service, "GET") == (200, [])


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"matchers": ["stgae=production"]}, "unknown field 'stgae' (did you mean 'stage'?)"),
        ({"matchers": ["project=~sock("]}, "does not compile"),
        ({"matchers": ["stage=x"], "duration": None, "endsAt": "2020-01-01T00:00:00Z"}, "it ends in the past"),
        (
            {"matchers": []},
            'no matcher: it would mute every notification; give matchers such as stage=production, or "all": true',
        ),
        ({"matchers": ["stage=x"], "duration": "30d"}, "longer than silence_max_duration (7d"),
        ({"matchers": ["stage=x"], "endAt": "2h"}, "unknown field 'endAt' (did you mean 'endsAt'?)"),
        ({"matchers": ["stage=x"], "endsAt": "2h"}, "give either endsAt"),
        ({"matchers": "stage=x"}, "matchers must be a list of strings"),
        ({"matchers": ["stage=x"], "comment": ""}, "no comment"),
        ({"matchers": ["stage=x"], "drop": "yes"}, "drop must be true or false"),
        (b"{not json", "the body is not JSON"),
    ],
    ids=[
        "field",
        "regex",
        "past",
        "everything",
        "too-long",
        "unknown-key",
        "both-ends",
        "not-a-list",
        "no-comment",
        "not-a-bool",
        "not-json",
    ],
)
async def test_a_bad_silence_gets_400_with_the_reason(
    tmp_path: Path, chat_server: FakeChatServer, body: dict[str, Any] | bytes, said: str
) -> None:
    base = {"duration": "1h", "comment": "c", "createdBy": "a"}
    sent = body if isinstance(body, bytes) else {k: v for k, v in {**base, **body}.items() if v is not None}
    async with running_service(tmp_path, config(chat_server), env=ENV) as service:
        status, answer = await api(service, "POST", body=sent, headers=AUTHORIZED)
        assert status == 400 and said in answer["error"], answer
        assert await api(service, "GET") == (200, [])


async def test_everything_can_be_muted_when_asked_for(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, config(chat_server), env=ENV) as service:
        status, answer = await api(
            service,
            "POST",
            body={"matchers": [], "all": True, "endsAt": "30m", "comment": "c", "createdBy": "a"},
            headers=AUTHORIZED,
        )
        assert status == 200 and answer["touches"] == {"all": ["prod-hook", "teams"]}
        status, answer = await api(
            service,
            "POST",
            body={"matchers": ["channel=elsewhere"], "duration": "1h", "comment": "c", "createdBy": "a"},
            headers=AUTHORIZED,
        )
        assert status == 200 and answer["touches"] == {}
        assert answer["warning"].startswith("it can match nothing the routes send (route all:"), answer
