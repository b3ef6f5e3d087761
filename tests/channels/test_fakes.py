"""The fake platforms themselves: other tests trust their defaults, their scripting and their records."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from tests.fakes import FAKE_CHANNEL_ID, POST_MESSAGE, UPDATE_MESSAGE, FakeChatServer, Reply

ROOT = Path(__file__).resolve().parents[2]


async def post(session: aiohttp.ClientSession, url: str | URL, **kwargs: object) -> tuple[int, str, str]:
    async with session.post(url, **kwargs) as response:  # type: ignore[arg-type]
        return response.status, response.content_type, await response.text()


async def test_defaults_answer_like_the_platforms(
    chat_server: FakeChatServer, http_session: aiohttp.ClientSession
) -> None:
    base = chat_server.url

    assert await post(http_session, f"{base}/slack/T/B/x", json={"text": "hi"}) == (200, "text/html", "ok")
    assert await post(http_session, f"{base}/teams/flow", json={"type": "message"}) == (
        202,
        "application/octet-stream",
        "",
    )
    status, _, body = await post(http_session, f"{base}/elsewhere", json={})
    assert status == 404
    status, _, body = await post(http_session, f"{base}/api/chat.delete", json={})  # a method it does not fake
    assert (status, json.loads(body)) == (200, {"ok": False, "error": "unknown_method"})


@pytest.mark.parametrize(
    ("headers", "error"),
    [({}, "not_authed"), ({"Authorization": "Bearer xoxp-1-2"}, "invalid_auth")],
)
async def test_post_message_checks_the_bot_token(
    chat_server: FakeChatServer, http_session: aiohttp.ClientSession, headers: dict[str, str], error: str
) -> None:
    _, _, body = await post(
        http_session, chat_server.url + POST_MESSAGE, json={"channel": "C1", "text": "x"}, headers=headers
    )

    assert json.loads(body) == {"ok": False, "error": error}


async def test_post_message_takes_json_and_form_bodies_with_increasing_ts(
    chat_server: FakeChatServer, http_session: aiohttp.ClientSession
) -> None:
    auth = {"Authorization": "Bearer xoxb-1-2"}
    url = chat_server.url + POST_MESSAGE

    _, _, first = await post(http_session, url, json={"channel": "C1", "text": "json"}, headers=auth)
    _, _, second = await post(http_session, url, data={"channel": "C1", "text": "form"}, headers=auth)

    answers = [json.loads(first), json.loads(second)]
    assert [(a["ok"], a["channel"]) for a in answers] == [(True, FAKE_CHANNEL_ID)] * 2
    assert float(answers[0]["ts"]) < float(answers[1]["ts"])
    assert [r.json for r in chat_server.received_on(POST_MESSAGE)] == [
        {"channel": "C1", "text": "json"},
        {"channel": "C1", "text": "form"},
    ]


async def test_scripted_replies_come_in_order_then_the_default(
    chat_server: FakeChatServer, http_session: aiohttp.ClientSession
) -> None:
    url = chat_server.url + "/slack/x"
    chat_server.on("/slack/x", Reply.rate_limited(retry_after=3), Reply.slack_error(404, "no_service"))

    async with http_session.post(url, json={}) as limited:
        assert (limited.status, limited.headers["Retry-After"]) == (429, "3")
    assert await post(http_session, url, json={}) == (404, "text/html", "no_service")
    assert await post(http_session, url, json={}) == (200, "text/html", "ok")
    assert await post(http_session, chat_server.url + "/slack/other", json={}) == (200, "text/html", "ok")


async def test_records_what_arrived_in_order(chat_server: FakeChatServer, http_session: aiohttp.ClientSession) -> None:
    # encoded=True: the query reaches the fake exactly as written, and the fake records it raw.
    await post(http_session, URL(chat_server.url + "/teams/a?sig=abc%2Fdef", encoded=True), json={"n": 1})
    await post(http_session, chat_server.url + "/teams/b", data=b"not json", headers={"X-Probe": "yes"})

    first, second = chat_server.received
    assert (first.path, first.query, first.json, first.body) == ("/teams/a", "sig=abc%2Fdef", {"n": 1}, b'{"n": 1}')
    assert (second.path, second.json, second.body, second.headers["X-Probe"]) == ("/teams/b", None, b"not json", "yes")
    assert first.at <= second.at <= time.monotonic()
    assert chat_server.received_on("/teams/b") == [second]


async def test_wait_for_returns_once_enough_arrived_and_fails_clearly_otherwise(
    chat_server: FakeChatServer, http_session: aiohttp.ClientSession
) -> None:
    sender = asyncio.create_task(post(http_session, chat_server.url + "/teams/a", json={}))
    await chat_server.wait_for(1, "/teams/a", timeout=5)
    await sender

    with pytest.raises(AssertionError, match=r"expected 2 request\(s\) on /teams/a within 0.1s, got 1"):
        await chat_server.wait_for(2, "/teams/a", timeout=0.1)


async def test_close_ends_a_hanging_reply_at_once(http_session: aiohttp.ClientSession) -> None:
    fake = FakeChatServer()
    await fake.start()
    fake.on("/teams/slow", Reply.hang(60))
    hanging = asyncio.create_task(post(http_session, fake.url + "/teams/slow", json={}))
    await fake.wait_for(1)

    started = time.monotonic()
    await fake.close()

    assert time.monotonic() - started < 2
    hanging.cancel()
    await asyncio.gather(hanging, return_exceptions=True)


def test_standalone_process_reports_its_url_and_every_request(tmp_path: Path) -> None:
    ready = tmp_path / "fake.url"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes", "--port", "0", "--ready-file", str(ready)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not ready.exists():
            assert process.poll() is None, "the fake exited before it was ready"
            assert time.monotonic() < deadline, "the fake did not write its ready file"
            time.sleep(0.02)
        url = ready.read_text().strip()

        asyncio.run(_drive_standalone(url))

        assert process.stdout is not None
        line = json.loads(process.stdout.readline())
        assert (line["path"], line["json"], line["body"]) == ("/slack/x", {"text": "hi"}, '{"text": "hi"}')
        second = json.loads(process.stdout.readline())
        assert second["path"] == "/teams/y"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        if process.stdout is not None:
            process.stdout.close()


async def _drive_standalone(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        assert await post(session, url + "/slack/x", json={"text": "hi"}) == (200, "text/html", "ok")
        control = {"path": "/teams/y", "replies": [{"status": 503, "body": "busy"}]}
        async with session.post(url + "/_fake/replies", json=control) as scripted:
            assert scripted.status == 200
        assert (await post(session, url + "/teams/y", json={}))[0] == 503
        async with session.get(url + "/_fake/received") as received:
            assert [r["path"] for r in await received.json()] == ["/slack/x", "/teams/y"]


async def test_the_web_api_keeps_threads_refuses_what_slack_refuses_and_prints_the_conversation(
    chat_server: FakeChatServer, http_session: aiohttp.ClientSession
) -> None:
    api = chat_server.url + "/api/"
    ours, theirs = {"Authorization": "Bearer xoxb-ours"}, {"Authorization": "Bearer xoxb-theirs"}

    async def call(method: str, headers: dict[str, str], **fields: object) -> dict[str, object]:
        _, _, body = await post(http_session, api + method, json=fields, headers=headers)
        answer = json.loads(body)
        assert isinstance(answer, dict)
        return answer

    parent = await call("chat.postMessage", ours, channel="#prod", text="run &lt;1&gt;")
    channel, ts = parent["channel"], parent["ts"]
    reply = await call("chat.postMessage", ours, channel=channel, text="first", thread_ts=ts, reply_broadcast=True)
    assert reply["ok"] is True
    assert (await call("chat.postMessage", ours, channel=channel, text="x", thread_ts=reply["ts"]))["error"] == (
        "fake_thread_ts_is_a_reply"
    )
    assert (await call("chat.postMessage", ours, channel=channel, text="x", thread_ts="9.9"))["error"] == (
        "thread_not_found"
    )
    assert (await call("chat.update", theirs, channel=channel, ts=ts, text="x"))["error"] == "cant_update_message"
    assert (await call("chat.update", ours, channel=channel, ts=ts, text="run 2"))["ok"] is True
    assert chat_server.conversation() == (
        f"[{ts}] (edited 1x) run 2\n  ↳ [{reply['ts']}] (also sent to the channel) first"
    )
    assert [m.shown for m in chat_server.replies(chat_server.top_level()[0])] == ["first"]
    chat_server.delete(str(channel), str(ts))
    assert (await call("chat.update", ours, channel=channel, ts=ts, text="x"))["error"] == "message_not_found"
    assert (await call("chat.postMessage", ours, channel=channel, text="x", thread_ts=ts))["error"] == (
        "thread_not_found"
    )
    # a second channel gets its own ID
    other = await call("chat.postMessage", ours, channel="#other", text="elsewhere")
    assert (channel, other["channel"]) == (FAKE_CHANNEL_ID, "C0124")


async def test_a_slow_chat_update_still_edits_and_concurrent_updates_of_one_message_are_counted(
    chat_server: FakeChatServer, http_session: aiohttp.ClientSession
) -> None:
    api, auth = chat_server.url + "/api/", {"Authorization": "Bearer xoxb-ours"}

    async def call(method: str, **fields: object) -> dict[str, object]:
        _, _, body = await post(http_session, api + method, json=fields, headers=auth)
        answer = json.loads(body)
        assert isinstance(answer, dict)
        return answer

    first = await call("chat.postMessage", channel="#prod", text="first")
    second = await call("chat.postMessage", channel="#prod", text="second")
    chat_server.answer_after(UPDATE_MESSAGE, 1.0)
    # two messages updated at once: one update in flight per message
    await asyncio.gather(*(call("chat.update", channel=m["channel"], ts=m["ts"], text="1") for m in (first, second)))
    assert chat_server.most_updates_at_once == 1
    assert [m.shown for m in chat_server.top_level()] == ["1", "1"]
    # two updates of one message at once: counted
    edits = [call("chat.update", channel=first["channel"], ts=first["ts"], text=text) for text in ("2", "3")]
    assert [answer["ok"] for answer in await asyncio.gather(*edits)] == [True, True]
    assert chat_server.most_updates_at_once == 2
    assert chat_server.top_level()[0].edits == 3
