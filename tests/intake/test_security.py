"""Issue 5.1 and 5.2 against the real service over HTTP: the shared secret, and limits on every input."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import orjson

from tests.fakes import FakeChatServer
from tests.helpers import every_route, keptn_event, running_service, slack_hook

TOKEN = "ingest-token-7f3a9c2e"


def config(chat: FakeChatServer) -> dict:
    return {"channels": {"hook": slack_hook(chat.url)}, "routes": every_route("hook")}


async def test_with_a_shared_secret_only_bearers_get_in(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, config(chat_server), ingest_token=TOKEN) as svc:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": TOKEN},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"bearer  {TOKEN}"},
        ):
            status, body = await svc.post_json(keptn_event(), **headers)
            assert status == 401 and "Bearer" in body["error"], headers
            assert TOKEN not in json.dumps(body)
        status, _ = await svc.post_json(keptn_event(), Authorization=f"Bearer {TOKEN}")
        assert status == 202
        # probes stay open for the kubelet and Prometheus
        assert (await svc.get("/health"))[0] == 200
        assert await svc.metric("keptn_notifier_events_rejected_total", reason="unauthorized") == 5
        _, metrics = await svc.get("/metrics")
        assert TOKEN not in metrics


async def test_limits_on_body_batch_depth_keys_strings_and_labels(tmp_path: Path, chat_server: FakeChatServer) -> None:
    settings = {
        "max_body_bytes": "64KiB",
        "max_batch_events": 5,
        "max_keys": 500,
        "max_string_chars": 300,
        "max_labels": 3,
    }
    async with running_service(tmp_path, config(chat_server), **settings) as svc:
        status, body = await svc.post_json(b"x" * 70_000)
        assert status == 413 and "limit of 65536 bytes" in body["error"]
        status, body = await svc.post_json(
            [keptn_event(str(i)) for i in range(6)], "application/cloudevents-batch+json"
        )
        assert status == 400 and "more than the limit of 5" in body["error"]
        deep: dict = {}
        node = deep
        for _ in range(40):
            node["x"] = {}
            node = node["x"]
        status, body = await svc.post_json(keptn_event("deep", nested=deep))
        assert status == 400 and "nested deeper" in body["error"]
        status, body = await svc.post_json(keptn_event("keys", big={f"k{i}": i for i in range(600)}))
        assert status == 400 and "more than 500 keys" in body["error"]
        long_event = keptn_event("long", message="m" * 5000, labels={f"l{i}": "v" for i in range(10)})
        status, body = await svc.post_json(long_event)
        assert (status, body["accepted"]) == (202, 1)
        await chat_server.wait_for(1, "/slack/hook")
    text = orjson.dumps(chat_server.received_on("/slack/hook")[0].json).decode()
    assert "m" * 5000 not in text


async def test_a_binary_mode_event_with_a_small_body_still_has_its_long_headers_cut(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    """In binary mode the attributes come in `ce-*` headers: a small body says nothing of their length."""
    long_context = "c" * 2_000
    headers = {
        "ce-id": "bin-long",
        "ce-source": "https://keptn.example/" + "s" * 2_000,
        "ce-type": "sh.keptn.event.evaluation.finished",
        "ce-specversion": "1.0",
        "ce-shkeptncontext": long_context,
    }
    data = {"project": "sockshop", "stage": "dev", "service": "carts", "result": "fail", "status": "succeeded"}
    async with running_service(tmp_path, config(chat_server), max_string_chars=300) as svc:
        status, body = await svc.post_json(data, "application/json", **headers)
        assert (status, body["accepted"]) == (202, 1)
        await chat_server.wait_for(1, "/slack/hook")
    text = orjson.dumps(chat_server.received_on("/slack/hook")[0].json).decode()
    assert "c" * 301 not in text and "s" * 301 not in text


async def test_a_body_without_a_length_is_read_in_pieces_and_still_bounded(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    """Chunked bodies arrive in several reads: the whole event is read, and a body over the limit is refused."""

    async def pieces(raw: bytes, size: int) -> AsyncIterator[bytes]:
        for start in range(0, len(raw), size):
            yield raw[start : start + size]
            await asyncio.sleep(0)  # each piece its own write, so the service reads them one by one

    async with running_service(tmp_path, config(chat_server), max_body_bytes="64KiB") as svc:
        raw = orjson.dumps(keptn_event("chunked"))
        headers = {"Content-Type": "application/cloudevents+json"}
        async with svc.session.post(svc.url + "/", data=pieces(raw, 100), headers=headers) as response:
            assert (response.status, await response.json()) == (202, {"accepted": 1, "ignored": 0, "duplicates": 0})
        async with svc.session.post(svc.url + "/", data=pieces(b"x" * 70_000, 8_192), headers=headers) as response:
            assert response.status == 413 and "limit of 65536 bytes" in (await response.json())["error"]
        await chat_server.wait_for(1, "/slack/hook")


async def test_a_stream_of_garbage_does_not_stall_good_events(tmp_path: Path, chat_server: FakeChatServer) -> None:
    garbage = [b"\x00\xff" * 100, b"{" * 5000, b'{"id": 1}', b"[]", b"null", orjson.dumps({"data": "x"})]
    async with running_service(tmp_path, config(chat_server)) as svc:

        async def bad(index: int) -> int:
            status, _ = await svc.post_json(garbage[index % len(garbage)])
            return status

        async def good(index: int) -> int:
            status, _ = await svc.post_json(keptn_event(f"good-{index}"))
            return status

        results = await asyncio.gather(*(bad(i) for i in range(300)), *(good(i) for i in range(30)))
        assert set(results[:300]) <= {400, 415} and results[300:] == [202] * 30
        await chat_server.wait_for(30, "/slack/hook")
        assert (await svc.get("/ready"))[0] == 200
