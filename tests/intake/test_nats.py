"""Events straight from Keptn's NATS: the real service in-process, a real nats-server, the fake Slack.

Each test gets a server of its own, makes Keptn's stream the way the shipyard-controller does (`keptn`, subjects
`sh.keptn.>`, nothing else set) and publishes the way every Keptn service does: a core NATS publish, subject =
event type, body = the CloudEvent JSON. Waits are bounded polls, never assertions on durations.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.js.api import ConsumerConfig, ConsumerInfo, DeliverPolicy

from notifier.app.service import Service
from notifier.config.load import load_config
from notifier.config.source import ConfigError
from tests.fakes import FakeChatServer
from tests.helpers import RunningService, every_route, keptn_event, running_service, slack_hook, write_yaml
from tests.nats_server import (
    NatsServer,
    core_nats_server,
    errors_ignored,
    free_port,
    keptn_stream,
    own_nats_server,
    publish,
)

# The longest any test waits for something to happen.
WAIT = 20.0
HOOK = "/slack/hook"

__all__ = ["core_nats_server", "own_nats_server"]  # the fixtures: a server per test


@pytest.fixture
def nats_server(own_nats_server: NatsServer) -> NatsServer:
    return own_nats_server


async def consumer(url: str, name: str = "keptn-notifier") -> ConsumerInfo:
    nc = await nats.connect(url, error_cb=errors_ignored)
    try:
        return await nc.jetstream().consumer_info("keptn", name)
    finally:
        await nc.close()


async def until(check: Callable[[], Any], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not await _call(check):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        await asyncio.sleep(0.05)


async def _call(check: Callable[[], Any]) -> Any:
    result = check()
    return await result if asyncio.iscoroutine(result) else result


def event(number: int) -> dict[str, Any]:
    return keptn_event(f"ev-{number}", project=f"proj-{number:04d}-x")


def projects_sent(chat_server: FakeChatServer) -> Counter[str]:
    """How many messages Slack got for each event (by the event's project, which is unique per event)."""
    counts: Counter[str] = Counter()
    for item in chat_server.received_on(HOOK):
        counts.update(set(re.findall(r"proj-\d{4}-x", item.body.decode())))
    return counts


async def ready(svc: RunningService) -> bool:
    return (await svc.get("/ready"))[0] == 200


def slack_config(chat_server: FakeChatServer) -> dict[str, Any]:
    return {"channels": {"hook": slack_hook(chat_server.url)}, "routes": every_route("hook")}


def from_nats(url: str, **settings: Any) -> dict[str, Any]:
    return {"nats_url": url, "pubsub_topic": "sh.keptn.event.evaluation.finished", **settings}


@asynccontextmanager
async def service_reading(
    tmp_path: Path, chat_server: FakeChatServer, url: str, **settings: Any
) -> AsyncIterator[RunningService]:
    """The service, sending to the fake Slack, once it reads from NATS (ready)."""
    async with running_service(tmp_path, slack_config(chat_server), **from_nats(url, **settings)) as svc:
        await until(lambda: ready(svc), "ready")
        yield svc


@pytest.fixture
async def with_stream(nats_server: NatsServer) -> AsyncIterator[NatsServer]:
    await keptn_stream(nats_server.url)
    yield nats_server


async def test_events_published_the_keptn_way_reach_slack_once_and_only_new_ones(
    tmp_path: Path, chat_server: FakeChatServer, with_stream: NatsServer
) -> None:
    url = with_stream.url
    # Before the consumer exists: Keptn's history, which deliver policy new must not replay.
    await publish(url, event(0))
    async with service_reading(tmp_path, chat_server, url) as svc:
        info = await consumer(url)
        assert info.config.deliver_policy == DeliverPolicy.NEW
        assert info.config.filter_subjects == ["sh.keptn.event.evaluation.finished"]
        # The same event twice (a republish), one of another type (not subscribed), and nine others.
        await publish(url, event(1), event(1), keptn_event("other", "sh.keptn.event.test.finished"))
        await publish(url, *(event(number) for number in range(2, 11)))
        await chat_server.wait_for(10, HOOK, timeout=WAIT)
        await until(
            lambda: _acked_all(url, 11), "every message acked: nothing redelivered, nothing waiting, nothing more"
        )
        assert svc.url and (await svc.post_json(event(11)))[0] == 202  # the HTTP intake serves alongside
        await chat_server.wait_for(11, HOOK, timeout=WAIT)
    assert projects_sent(chat_server) == {f"proj-{number:04d}-x": 1 for number in range(1, 12)}


async def _acked_all(url: str, delivered: int) -> bool:
    info = await consumer(url)
    # `delivered.consumer_seq` counts deliveries: the 11 subscribed messages, each handed out once (the one of
    # another type is filtered out by the server, the old one never comes).
    return (
        info.num_pending == 0
        and info.num_ack_pending == 0
        and info.num_redelivered == 0
        and info.delivered.consumer_seq == delivered
    )


async def test_with_the_jetstream_store_too_events_reach_slack_once(
    tmp_path: Path, chat_server: FakeChatServer, with_stream: NatsServer
) -> None:
    url = with_stream.url
    async with service_reading(tmp_path, chat_server, url, store="nats", nats_prefix="intake-test"):
        await publish(url, event(1), event(2), event(1))
        await chat_server.wait_for(2, HOOK, timeout=WAIT)
        await until(lambda: _settled(url), "every message acked")
    assert projects_sent(chat_server) == {"proj-0001-x": 1, "proj-0002-x": 1}


async def test_a_message_is_acked_only_once_stored_and_comes_again_after_a_store_failure(
    tmp_path: Path, chat_server: FakeChatServer, with_stream: NatsServer
) -> None:
    url = with_stream.url
    async with service_reading(tmp_path, chat_server, url) as svc:
        await svc.service.store.close()  # the store fails every write now
        await publish(url, event(1))
        await until(lambda: svc.metric("keptn_notifier_intake_retries_total"), "the message given back")
        assert chat_server.received_on(HOOK) == []
        info = await consumer(url)
        assert info.num_ack_pending == 1 and info.num_pending == 0  # not acked: still the consumer's to deliver
        await svc.service.store.open()
        await chat_server.wait_for(1, HOOK, timeout=WAIT)
        await until(lambda: _settled(url), "acked once stored")
        assert (await consumer(url)).num_redelivered == 0
    assert projects_sent(chat_server) == {"proj-0001-x": 1}


async def _settled(url: str) -> bool:
    info = await consumer(url)
    return info.num_ack_pending == 0 and info.num_pending == 0


async def test_malformed_and_oversize_messages_are_acked_counted_and_logged_once(
    tmp_path: Path, chat_server: FakeChatServer, with_stream: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = with_stream.url
    subject = "sh.keptn.event.evaluation.finished"
    oversize = orjson.dumps(keptn_event("big", message="x" * 2048))
    async with service_reading(tmp_path, chat_server, url, max_body_bytes="1KiB") as svc:
        with caplog.at_level(logging.WARNING, "notifier.intake.nats"):
            await publish(url, (subject, b"not json {"), (subject, b'{"no": "cloudevent"}'), (subject, oversize))
            await publish(url, event(1))
            await chat_server.wait_for(1, HOOK, timeout=WAIT)
            await until(lambda: _settled(url), "every message answered")
            info = await consumer(url)
            assert info.num_redelivered == 0 and info.delivered.consumer_seq == 4
            assert await svc.metric("keptn_notifier_events_rejected_total", reason="malformed") == 2
            assert await svc.metric("keptn_notifier_events_rejected_total", reason="too_large") == 1
            assert (await svc.get("/ready"))[0] == 200
    dropped = [record for record in caplog.records if "dropped a message" in record.getMessage()]
    assert len(dropped) == 3 and all(record.exc_info is None for record in dropped)
    assert "not valid JSON" in dropped[0].getMessage() and "NOTIFIER_MAX_BODY" in dropped[2].getMessage()
    assert projects_sent(chat_server) == {"proj-0001-x": 1}


async def test_while_keptns_stream_is_missing_the_service_is_not_ready_and_says_why(
    tmp_path: Path, chat_server: FakeChatServer, nats_server: NatsServer
) -> None:
    url = nats_server.url
    async with running_service(tmp_path, slack_config(chat_server), **from_nats(url)) as svc:
        status, body = await svc.get("/ready")
        assert status == 503 and "no stream keptn" in body and "shipyard-controller" in body
        await keptn_stream(url)  # Keptn comes up
        await until(lambda: ready(svc), "ready once the stream exists")
        await publish(url, event(1))
        await chat_server.wait_for(1, HOOK, timeout=WAIT)
    # The intake only reads Keptn's stream: its settings are still the shipyard-controller's.
    nc = await nats.connect(url, error_cb=errors_ignored)
    try:
        stream = (await nc.jetstream().stream_info("keptn")).config
    finally:
        await nc.close()
    assert stream.subjects == ["sh.keptn.>"] and stream.max_age in (0, None) and stream.description is None


async def test_a_nats_restart_mid_run_loses_nothing_accepted(
    tmp_path: Path, chat_server: FakeChatServer, with_stream: NatsServer
) -> None:
    url = with_stream.url
    async with service_reading(tmp_path, chat_server, url) as svc:
        await publish(url, *(event(number) for number in range(20)))
        await asyncio.to_thread(with_stream.stop)
        await until(lambda: not_ready_because(svc, "NATS"), "not ready while NATS is away")
        await asyncio.to_thread(with_stream.start)  # same port, same JetStream files
        await until(lambda: ready(svc), "ready again")
        await publish(url, *(event(number) for number in range(20, 40)))
        await chat_server.wait_for(40, HOOK, timeout=WAIT)
        # An ack sent as the server went down is lost: that message comes again after the consumer's ack wait,
        # and is a duplicate then (the first test shows a duplicate sends nothing).
    assert projects_sent(chat_server) == {f"proj-{number:04d}-x": 1 for number in range(40)}


async def test_events_published_while_the_service_is_down_come_when_it_is_back(
    tmp_path: Path, chat_server: FakeChatServer, with_stream: NatsServer
) -> None:
    url = with_stream.url
    async with service_reading(tmp_path, chat_server, url):
        await publish(url, event(1))
        await chat_server.wait_for(1, HOOK, timeout=WAIT)
    # The durable consumer keeps its place while no replica reads it (a rollout, a crash).
    await publish(url, *(event(number) for number in range(2, 7)))
    async with service_reading(tmp_path, chat_server, url):
        await chat_server.wait_for(6, HOOK, timeout=WAIT)
        await until(lambda: _settled(url), "every message acked")
    assert projects_sent(chat_server) == {f"proj-{number:04d}-x": 1 for number in range(1, 7)}


async def not_ready_because(svc: RunningService, reason: str) -> bool:
    status, body = await svc.get("/ready")
    return status == 503 and reason in body


async def test_a_start_against_an_unreachable_server_serves_http_and_keeps_trying_one_line_each(
    tmp_path: Path, chat_server: FakeChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = NatsServer(tmp_path / "nats", port=free_port())
    with caplog.at_level(logging.INFO, "notifier.intake.nats"):
        async with running_service(tmp_path, slack_config(chat_server), **from_nats(server.url)) as svc:
            status, body = await svc.get("/ready")
            assert status == 503 and f"cannot reach NATS at {server.url}" in body
            assert (await svc.post_json(event(1)))[0] == 202  # the HTTP intake takes events meanwhile
            await chat_server.wait_for(1, HOOK, timeout=WAIT)
            await until(lambda: len(_attempts(caplog)) >= 3, "three attempts")
            await asyncio.to_thread(server.start)
            try:
                await keptn_stream(server.url)
                await until(lambda: ready(svc), "ready once NATS is there")
                await publish(server.url, event(2))
                await chat_server.wait_for(2, HOOK, timeout=WAIT)
            finally:
                await asyncio.to_thread(server.stop)
    attempts = _attempts(caplog)
    assert all(record.exc_info is None and record.levelno == logging.WARNING for record in attempts)
    assert all(record.getMessage().count("cannot reach NATS") == 1 for record in attempts)
    assert not [record for record in caplog.records if record.name.startswith("nats")]  # nats-py said nothing
    assert projects_sent(chat_server) == {"proj-0001-x": 1, "proj-0002-x": 1}


def _attempts(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if "cannot reach NATS" in record.getMessage()]


async def test_an_existing_consumer_with_other_settings_stops_start_up_naming_the_setting(
    tmp_path: Path, chat_server: FakeChatServer, with_stream: NatsServer
) -> None:
    url = with_stream.url
    nc = await nats.connect(url, error_cb=errors_ignored)
    try:
        await nc.jetstream().add_consumer(
            "keptn",
            ConsumerConfig(
                durable_name="keptn-notifier", filter_subject="sh.keptn.>", deliver_policy=DeliverPolicy.NEW
            ),
        )
    finally:
        await nc.close()
    settings = from_nats(url, port=0, host="127.0.0.1", state_dir=str(tmp_path / "state"))
    path = write_yaml(tmp_path / "notifier.yaml", {**slack_config(chat_server), "settings": settings})
    service = Service(load_config(path, env={}), stdout=io.StringIO())
    try:
        with pytest.raises(ConfigError) as raised:
            await service.start()
    finally:
        await service.stop()  # as `serve` does after a failed start
    message = str(raised.value)
    assert "consumer keptn-notifier" in message and "PUBSUB_TOPIC" in message and "sh.keptn.>" in message
    assert "nats consumer rm keptn keptn-notifier" in message
    assert (await consumer(url)).config.filter_subject == "sh.keptn.>"  # left as it was


async def test_core_mode_shares_the_events_between_the_members_of_a_queue_group(
    tmp_path: Path, chat_server: FakeChatServer, with_stream: NatsServer
) -> None:
    url = with_stream.url
    settings = from_nats(url, nats_jetstream=False, pubsub_group="notifiers")
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    config = slack_config(chat_server)
    async with (
        running_service(tmp_path / "one", config, **settings) as one,
        running_service(tmp_path / "two", config, **settings) as two,
    ):
        await until(lambda: ready(one), "one ready")
        await until(lambda: ready(two), "two ready")
        await publish(url, *(event(number) for number in range(30)))
        await chat_server.wait_for(30, HOOK, timeout=WAIT)
        received = [await svc.metric("keptn_notifier_events_received_total") for svc in (one, two)]
    # Each event went to one member: both got some (all 30 at one has a chance of 2 in a billion).
    assert sum(received) == 30 and min(received) > 0
    assert projects_sent(chat_server) == {f"proj-{number:04d}-x": 1 for number in range(30)}
    # Core mode reads no stream: no consumer was made.
    nc = await nats.connect(url, error_cb=errors_ignored)
    try:
        assert [name async for name in _consumer_names(nc)] == []
    finally:
        await nc.close()


async def _consumer_names(nc: nats.NATS) -> AsyncIterator[str]:
    for info in await nc.jetstream().consumers_info("keptn"):
        yield info.name


async def test_without_jetstream_on_the_server_the_intake_subscribes_by_core_nats(
    tmp_path: Path, chat_server: FakeChatServer, core_nats_server: NatsServer
) -> None:
    async with service_reading(tmp_path, chat_server, core_nats_server.url) as svc:
        await publish(core_nats_server.url, event(1))
        await chat_server.wait_for(1, HOOK, timeout=WAIT)
        assert await svc.metric("keptn_notifier_events_received_total") == 1
    assert projects_sent(chat_server) == {"proj-0001-x": 1}


async def test_without_nats_url_there_is_no_nats_intake(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, slack_config(chat_server)) as svc:
        assert [type(intake).__name__ for intake in svc.service.intakes] == ["HttpIntake"]
        assert (await svc.get("/ready"))[0] == 200


async def test_jetstream_asked_for_on_a_server_without_it_is_not_ready_and_says_what_to_do(
    tmp_path: Path, chat_server: FakeChatServer, core_nats_server: NatsServer
) -> None:
    async with running_service(
        tmp_path, slack_config(chat_server), **from_nats(core_nats_server.url, nats_jetstream=True)
    ) as svc:
        status, body = await svc.get("/ready")
        assert status == 503 and "has no JetStream" in body and "NATS_JETSTREAM=false" in body
