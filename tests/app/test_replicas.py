"""Three replicas as one: real `keptn-notifier serve` subprocesses on one NATS JetStream, straight from Keptn's stream.

A real nats-server with Keptn's stream `keptn` (made as the shipyard-controller makes it), three replicas with
`NATS_URL`, `NATS_JETSTREAM=true` and `NOTIFIER_STORE=nats`, one Slack bot channel (run threads) on the fake Slack
Web API, and events published the way Keptn publishes them (core NATS, subject = the event's type, body = the
CloudEvent). Issue 13, "How it is checked": 2,000 events of 200 runs reach Slack exactly once, one run message
per run; a replica killed midway loses nothing, costs at most one duplicate and the others carry on within 10 s;
a NATS restart midway loses nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.fakes import POST_MESSAGE, FakeChatServer
from tests.helpers import ServiceProcess, keptn_run, slack_bot
from tests.nats_server import NatsServer, errors_ignored, keptn_stream, own_nats_server, publish

REPLICAS = 3
RUNS = 200  # of 10 events each: 2,000 events
PREFIX = "replicas"
TOKEN = "xoxb-1-2-replicas"
# Far above Slack's one a second, so that 2,000 notifications take seconds; still paced: one send in flight.
RATE = {"per_second": 1000, "burst": 50}
# The longest any step may take before the test fails (the whole run takes a fraction of it).
WAIT = 120.0
# Issue 13: the replicas left carry on within 10 s of one being killed.
CARRY_ON = 10.0
MARK = re.compile(r"m-r\d{4}-e\d{2}")


def replica_config(chat_url: str) -> dict[str, Any]:
    return {
        "channels": {"prod": slack_bot(chat_url, TOKEN, RATE)},
        "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["prod"]}],
        "settings": {"pubsub_topic": "sh.keptn.>", "nats_prefix": PREFIX, "log_level": "warning"},
    }


@dataclass
class Cluster:
    nats: NatsServer
    replicas: list[ServiceProcess]
    chat: FakeChatServer

    def stderr(self) -> str:
        return "\n".join(f"--- replica {n}:\n{replica.stderr()[-3000:]}" for n, replica in enumerate(self.replicas))


__all__ = ["own_nats_server"]  # the fixture: a server per test


@pytest.fixture
def nats_server(own_nats_server: NatsServer) -> NatsServer:
    return own_nats_server


@asynccontextmanager
async def cluster(tmp_path: Path, nats_server: NatsServer, chat: FakeChatServer) -> AsyncIterator[Cluster]:
    """Keptn's stream, then three replicas started side by side, each ready (its /ready says 200)."""
    await keptn_stream(nats_server.url)
    env = {"NATS_URL": nats_server.url, "NATS_JETSTREAM": "true", "NOTIFIER_STORE": "nats"}
    replicas = []
    for number in range(REPLICAS):
        workdir = tmp_path / f"replica-{number}"
        workdir.mkdir()
        replicas.append(ServiceProcess(replica_config(chat.url), workdir, env))
    try:
        for replica in replicas:
            replica.spawn()
        for replica in replicas:
            await asyncio.to_thread(replica.wait_ready, 30)
        yield Cluster(nats_server, replicas, chat)
    finally:
        for replica in replicas:
            replica.close()


def run_events(runs: int) -> list[dict[str, Any]]:
    """`runs` Keptn runs of 10 events each, interleaved as Keptn's would be (the nth step of every run, then the
    next): each event's message carries its mark `m-rRRRR-eEE`, each run its own shkeptncontext."""
    by_run = [keptn_run(run, f"m-r{run:04d}-e{{step:02d}}") for run in range(runs)]
    return [event for step in zip(*by_run, strict=True) for event in step]


def replies_by_mark(chat: FakeChatServer) -> Counter[str]:
    """How often each notification (by its mark) was posted as a reply in a thread."""
    counts: Counter[str] = Counter()
    for message in chat.messages.values():
        if message.thread_ts is not None:
            counts.update(set(MARK.findall(message.shown)))
    return counts


def run_messages_by_run(chat: FakeChatServer, contexts: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for message in chat.top_level():
        found.update(context for context in contexts if context in message.shown)
    return found


def marks(events: list[dict[str, Any]]) -> set[str]:
    return {MARK.findall(event["data"]["message"])[0] for event in events}


def contexts(events: list[dict[str, Any]]) -> list[str]:
    return sorted({event["shkeptncontext"] for event in events})


async def until(check: Callable[[], Any], what: str | Callable[[], str], where: Cluster, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not await _call(check):
        if time.monotonic() > deadline:
            said = what if isinstance(what, str) else what()
            raise AssertionError(f"not within {timeout} s: {said}\n{where.stderr()}")
        await asyncio.sleep(0.1)


async def _call(check: Callable[[], Any]) -> Any:
    result = check()
    return await result if asyncio.iscoroutine(result) else result


async def outbox_drained(url: str) -> bool:
    """Nothing left to send: every notification acked (the work-queue outbox is empty)."""
    nc = await nats.connect(url, error_cb=errors_ignored, allow_reconnect=False)
    try:
        info = await nc.jetstream().stream_info(f"{PREFIX}-outbox")
    except (nats.errors.Error, TimeoutError):
        return False
    finally:
        await nc.close()
    return info.state.messages == 0


async def all_sent(where: Cluster, events: list[dict[str, Any]]) -> None:
    wanted = marks(events)
    await until(
        lambda: set(replies_by_mark(where.chat)) >= wanted,
        lambda: (
            f"all {len(wanted)} notifications in Slack; missing {sorted(wanted - set(replies_by_mark(where.chat)))}"
        ),
        where,
    )
    await until(lambda: outbox_drained(where.nats.url), "the outbox drained", where)


def reply_times(chat: FakeChatServer) -> list[float]:
    """When each reply arrived at the fake Slack (its own clock), oldest first."""
    return sorted(
        item.at for item in chat.received_on(POST_MESSAGE) if isinstance(item.json, dict) and item.json.get("thread_ts")
    )


def posted_at(chat: FakeChatServer, key: str) -> list[float]:
    """When the posts of `key` arrived: the replies of a notification's mark, or the run messages of a context."""
    reply = MARK.fullmatch(key) is not None
    return [
        item.at
        for item in chat.received_on(POST_MESSAGE)
        if key in item.body.decode() and isinstance(item.json, dict) and bool(item.json.get("thread_ts")) == reply
    ]


def extra(counts: Counter[str]) -> int:
    return sum(count - 1 for count in counts.values() if count > 1)


async def test_three_replicas_send_each_notification_once_with_one_run_message_per_run(
    tmp_path: Path, nats_server: NatsServer, chat_server: FakeChatServer
) -> None:
    events = run_events(RUNS)
    async with cluster(tmp_path, nats_server, chat_server) as where:
        await publish(nats_server.url, *events)
        await all_sent(where, events)
        sent_by = [replica.stderr() for replica in where.replicas]
    replies = replies_by_mark(chat_server)
    assert replies == {mark: 1 for mark in marks(events)}, f"sent twice: {[m for m, n in replies.items() if n > 1]}"
    run_messages = run_messages_by_run(chat_server, contexts(events))
    assert run_messages == {context: 1 for context in contexts(events)}, [c for c, n in run_messages.items() if n > 1]
    assert all("Traceback" not in log for log in sent_by), sent_by


async def test_a_replica_killed_midway_loses_nothing_and_the_others_carry_on(
    tmp_path: Path, nats_server: NatsServer, chat_server: FakeChatServer
) -> None:
    events = run_events(RUNS)
    async with cluster(tmp_path, nats_server, chat_server) as where:
        await publish(nats_server.url, *events)
        await until(lambda: len(replies_by_mark(chat_server)) >= len(events) // 2, "half of them sent", where)
        victim = where.replicas[1]
        assert victim.proc is not None
        os.kill(victim.proc.pid, signal.SIGKILL)  # and it stays dead
        killed_at = time.monotonic()
        await asyncio.to_thread(victim.proc.wait, 10)
        await all_sent(where, events)
    replies = replies_by_mark(chat_server)
    assert set(replies) == marks(events)  # nothing lost
    run_messages = run_messages_by_run(chat_server, contexts(events))
    assert set(run_messages) == set(contexts(events))
    # One paced channel, one killed replica: its one send in flight may go again (a reply, or a run message).
    twice = [key for key, count in (replies + run_messages).items() if count > 1]
    seen = {key: [round(at - killed_at, 2) for at in posted_at(chat_server, key)] for key in twice}
    assert extra(replies) + extra(run_messages) <= 1, f"posted more than once (s after the kill): {seen}"
    after = [at for at in reply_times(chat_server) if at > killed_at]
    gaps = [later - earlier for earlier, later in itertools.pairwise([killed_at, *after])]
    assert max(gaps) <= CARRY_ON, f"no reply for {max(gaps):.1f} s after the kill"


async def test_a_nats_restart_midway_loses_nothing(
    tmp_path: Path, nats_server: NatsServer, chat_server: FakeChatServer
) -> None:
    events = run_events(RUNS)
    async with cluster(tmp_path, nats_server, chat_server) as where:
        await publish(nats_server.url, *events[: len(events) // 2])
        await until(lambda: len(replies_by_mark(chat_server)) >= len(events) // 4, "a quarter of them sent", where)
        await asyncio.to_thread(nats_server.restart)  # same port, same JetStream files
        await until(lambda: all(replica.is_ready() for replica in where.replicas), "every replica ready again", where)
        await publish(nats_server.url, *events[len(events) // 2 :])
        await all_sent(where, events)
    assert set(replies_by_mark(chat_server)) == marks(events)
    assert set(run_messages_by_run(chat_server, contexts(events))) == set(contexts(events))
