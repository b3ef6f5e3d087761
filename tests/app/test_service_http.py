"""The service over HTTP on loopback, as the distributor talks to it, with a fake Slack and Teams behind it."""

import asyncio
from pathlib import Path

import orjson

from tests.fakes import FakeChatServer, Reply
from tests.helpers import every_route, keptn_event, running_service, slack_hook, teams_hook
from tests.payload_checks import (
    assert_no_unescaped_control,
    assert_valid_adaptive_card,
    assert_valid_slack_payload,
    assert_valid_teams_envelope,
)


def config(chat: FakeChatServer) -> dict:
    return {
        "channels": {"hook": slack_hook(chat.url), "teams": teams_hook(chat.url), "log": {"type": "console"}},
        "routes": every_route("hook", "teams", "log"),
    }


async def test_structured_event_is_accepted_with_202_and_posted_to_every_channel(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    async with running_service(tmp_path, config(chat_server)) as svc:
        status, body = await svc.post_json(keptn_event())
        assert (status, body) == (202, {"accepted": 1, "ignored": 0, "duplicates": 0})
        await chat_server.wait_for(1, "/slack/hook")
        await chat_server.wait_for(1, "/teams/teams")
        slack = chat_server.received_on("/slack/hook")[0].json
        assert_valid_slack_payload(slack)
        assert "sockshop" in orjson.dumps(slack).decode()
        assert_valid_teams_envelope(chat_server.received_on("/teams/teams")[0].json)
        for _ in range(100):
            if "sockshop" in svc.stdout.getvalue():
                break
            await __import__("asyncio").sleep(0.02)
        assert "sockshop" in svc.stdout.getvalue()
        assert await svc.metric("keptn_notifier_notifications_sent_total", channel="hook") == 1


async def test_binary_and_batch_modes(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, config(chat_server)) as svc:
        event = keptn_event("bin-1")
        headers = {f"ce-{key}": value for key, value in event.items() if key != "data"}
        status, body = await svc.post_json(event["data"], "application/json", **headers)
        assert (status, body["accepted"]) == (202, 1)
        batch = [keptn_event("batch-1"), keptn_event("batch-2")]
        status, body = await svc.post_json(batch, "application/cloudevents-batch+json")
        assert (status, body["accepted"]) == (202, 2)
        await chat_server.wait_for(3, "/slack/hook")


async def test_unwanted_events_get_2xx_and_no_message(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, config(chat_server)) as svc:
        # not in the default PUBSUB_TOPIC: a task .started event
        status, body = await svc.post_json(keptn_event(type_="sh.keptn.event.deployment.started"))
        assert (status, body) == (202, {"accepted": 0, "ignored": 1, "duplicates": 0})
        assert await svc.metric("keptn_notifier_events_ignored_total") == 1
    assert chat_server.received == []


async def test_duplicate_ids_produce_one_message_per_channel(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, config(chat_server)) as svc:
        first = await svc.post_json(keptn_event("dup"))
        second = await svc.post_json(keptn_event("dup"))
        assert first[1]["accepted"] == 1 and second == (202, {"accepted": 0, "ignored": 0, "duplicates": 1})
        await svc.post_json(keptn_event("after"))
        await chat_server.wait_for(2, "/slack/hook")
        assert await svc.metric("keptn_notifier_events_deduplicated_total") == 1
    assert len(chat_server.received_on("/slack/hook")) == 2


async def test_bad_requests_get_clear_errors_and_do_not_hurt_the_service(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    async with running_service(tmp_path, config(chat_server), max_body_bytes=4096) as svc:
        cases = [
            (b"{oops", "application/cloudevents+json", 400, "not valid JSON"),
            (orjson.dumps({**keptn_event(), "id": ""}), "application/cloudevents+json", 400, "id"),
            (orjson.dumps({**keptn_event(), "data": [1]}), "application/cloudevents+json", 400, "'data' must be"),
            (b"hello", "text/plain", 415, "not supported"),
            (b"x" * 10_000, "application/cloudevents+json", 413, "larger than the limit"),
            (orjson.dumps({"id": "x"}), "application/json", 400, "lacks"),
        ]
        for body, content_type, status, words in cases:
            got_status, got = await svc.post_json(body, content_type)
            assert got_status == status, (body[:30], got)
            assert words in got["error"]
        assert await svc.metric("keptn_notifier_events_rejected_total") == len(cases)
        assert (await svc.get("/health"))[0] == 200
        status, _ = await svc.post_json(keptn_event("good"))
        assert status == 202
        await chat_server.wait_for(1, "/slack/hook")


async def test_probes_and_metrics(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, config(chat_server)) as svc:
        assert await svc.get("/health") == (200, '{"status": "ok"}')
        assert (await svc.get("/ready"))[0] == 200
        _, text = await svc.get("/metrics")
        for name in (
            "keptn_notifier_events_received_total",
            "keptn_notifier_events_rejected_total",
            "keptn_notifier_notifications_sent_total",
            "keptn_notifier_queue_depth",
        ):
            assert name in text


async def test_separate_admin_port(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, config(chat_server), admin_port=0, admin_host="127.0.0.1") as svc:
        assert svc.admin_url != svc.url
        assert (await svc.get("/ready"))[0] == 200
        async with svc.session.get(svc.url + "/metrics") as response:
            assert response.status in (404, 405)


async def test_hostile_event_text_pings_nobody(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, config(chat_server)) as svc:
        event = keptn_event(project="<!channel>", service="<@U123>", message="<https://evil.example|click> & more")
        await svc.post_json(event)
        await chat_server.wait_for(1, "/slack/hook")
        assert_no_unescaped_control(chat_server.received_on("/slack/hook")[0].json)


async def test_a_broken_user_template_still_sends_the_fallback(tmp_path: Path, chat_server: FakeChatServer) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "sh.keptn.event.evaluation.finished.yaml").write_text('title: "{{ data.project.missing() }}"\n')
    async with running_service(tmp_path, config(chat_server), templates_dir=str(templates)) as svc:
        await svc.post_json(keptn_event("t1"))
        await chat_server.wait_for(1, "/slack/hook")
        assert "sockshop" in orjson.dumps(chat_server.received_on("/slack/hook")[0].json).decode()
        assert await svc.metric("keptn_notifier_template_failures_total") >= 1


async def test_nothing_is_ever_sent_back_to_keptn(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, config(chat_server), pubsub_topic="sh.keptn.>") as svc:
        for index, kind in enumerate(("triggered", "started", "finished")):
            await svc.post_json(keptn_event(f"k{index}", f"sh.keptn.event.deployment.{kind}"))
        await chat_server.wait_for(3, "/slack/hook")
    assert {item.path for item in chat_server.received} <= {"/slack/hook", "/teams/teams"}


async def test_not_ready_and_503_while_the_store_cannot_be_written(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, config(chat_server)) as svc:
        assert (await svc.get("/ready"))[0] == 200
        await svc.service.store.close()  # the store now refuses every write, as a failed disk would
        assert not (await svc.service.check_store()).ok
        status, body = await svc.get("/ready")
        assert status == 503 and "cannot be written" in body
        status, answer = await svc.post_json(keptn_event("while-broken"))
        assert status == 503 and "retry later" in answer["error"]


async def test_a_card_channel_gets_the_bare_card_and_workflows_answers_count_as_sent(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    """Over loopback: `format: card` posts the Adaptive Card itself, the default the envelope; Workflows answers
    202 or 200 with an empty body, and both are delivered, never retried."""
    chat_server.on("/teams/card", Reply(200, ""))
    settings = {
        "channels": {
            "envelope": teams_hook(chat_server.url),
            "card": {**teams_hook(chat_server.url, "card"), "format": "card"},
        },
        "routes": every_route("envelope", "card"),
    }
    async with running_service(tmp_path, settings) as svc:
        assert (await svc.post_json(keptn_event()))[0] == 202
        await chat_server.wait_for(1, "/teams/card")
        await chat_server.wait_for(1, "/teams/teams")
        envelope = chat_server.received_on("/teams/teams")[0].json
        assert_valid_teams_envelope(envelope)
        card = chat_server.received_on("/teams/card")[0].json
        assert card["type"] == "AdaptiveCard" and "attachments" not in card
        assert_valid_adaptive_card(card)
        assert card == envelope["attachments"][0]["content"]
        sent: dict[str, float] = {}
        for _ in range(200):  # the count follows the answer: a bounded poll
            sent = {
                name: await svc.metric("keptn_notifier_notifications_sent_total", channel=name)
                for name in ("envelope", "card")
            }
            if sent == {"envelope": 1, "card": 1}:
                break
            await asyncio.sleep(0.02)
        assert sent == {"envelope": 1, "card": 1}
    assert len(chat_server.received_on("/teams/card")) == 1
