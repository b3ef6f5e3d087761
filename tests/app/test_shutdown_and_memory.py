"""SIGTERM drains gracefully; a long outage with events still arriving keeps memory flat (the queue is on disk)."""

import asyncio
import contextlib
import re
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import orjson

from notifier.app.service import Service
from notifier.config.load import load_config
from notifier.store import Health
from tests.fakes import FakeChatServer, Reply
from tests.helpers import ServiceProcess, keptn_event

BATCH = "application/cloudevents-batch+json"


def status_of(url: str, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/cloudevents+json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def post_batches(url: str, prefix: str, count: int, size: int = 100) -> None:
    async with aiohttp.ClientSession() as session:
        for start in range(0, count, size):
            batch = [keptn_event(f"{prefix}-{i}") for i in range(start, min(count, start + size))]
            async with session.post(url, data=orjson.dumps(batch), headers={"Content-Type": BATCH}) as response:
                assert response.status == 202, await response.text()


async def test_sigterm_refuses_new_events_finishes_the_send_in_flight_and_keeps_the_rest(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    chat_server.on("/slack/hook", *[Reply(delay=1.0)] * 3)
    config = {
        "channels": {
            "hook": {
                "type": "slack",
                "webhook_url": f"{chat_server.url}/slack/hook",
                "rate_limit": {"per_second": 100, "burst": 10},
            }
        },
        "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["hook"]}],
        "settings": {"shutdown_grace": "5s"},
    }
    service = ServiceProcess(config, tmp_path)
    service.start()
    try:
        await post_batches(service.url, "term", 20)
        await chat_server.wait_for(1, "/slack/hook")
        assert service.proc is not None
        service.proc.send_signal(15)
        await asyncio.sleep(0.3)
        assert status_of(service.url + "/ready") == 503
        assert status_of(service.url + "/", orjson.dumps(keptn_event("late"))) == 503
        exit_code = await asyncio.get_running_loop().run_in_executor(None, service.proc.wait, 15)
        assert exit_code == 0
        assert "Traceback" not in service.stderr()
        sent_before_restart = len(chat_server.received_on("/slack/hook"))
        assert 1 <= sent_before_restart < 20
        service.start()
        await chat_server.wait_for(20, "/slack/hook", timeout=30)
        await asyncio.sleep(0.3)
    finally:
        service.close()
    contexts = [re.search(rb"ctx-(term-\d+)", item.body) for item in chat_server.received_on("/slack/hook")]
    ids = [match.group(1) for match in contexts if match]
    # The send in flight at SIGTERM finished within the grace period, so nothing was sent twice.
    assert len(ids) == 20 and len(set(ids)) == 20


async def test_memory_stays_flat_while_a_channel_is_down_and_events_keep_coming(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    """20,000 events to a channel answering 500: RSS may grow by at most 25 MiB after the first 2,000."""
    chat_server.on("/slack/down", *[Reply.server_error()] * 100_000)
    config = {
        "channels": {"down": {"type": "slack", "webhook_url": f"{chat_server.url}/slack/down", "rate_limit": "off"}},
        "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["down"]}],
        "settings": {"retry_initial_backoff": "0.05s", "retry_max_backoff": "0.2s"},
    }
    service = ServiceProcess(config, tmp_path)
    service.start()
    try:
        await post_batches(service.url, "warm", 2_000)
        baseline = service.rss_kib()
        await post_batches(service.url, "load", 18_000)
        grown = service.rss_kib() - baseline
        assert len(chat_server.received_on("/slack/down")) > 5, "the channel was not being retried"
        _, metrics = await asyncio.get_running_loop().run_in_executor(
            None, lambda: (0, urllib.request.urlopen(service.url + "/metrics", timeout=5).read().decode())
        )
    finally:
        service.close()
    assert grown < 25 * 1024, f"RSS grew by {grown} KiB"
    assert "keptn_notifier_events_accepted_total 20000.0" in metrics


async def test_stop_ends_the_housekeeping_even_where_a_cancellation_is_lost(tmp_path: Path) -> None:
    """nats-py swallows a cancellation that lands in its flush (a NATS store's health or stats): the service's
    stop must not hang waiting for a housekeeping loop that never saw it."""
    service = Service(load_config(env={"NOTIFIER_STATE_DIR": str(tmp_path)}), intakes=[], admin=False)
    real = service.store.health
    asking, released = asyncio.Event(), asyncio.Event()

    async def swallowing() -> Health:
        asking.set()
        with contextlib.suppress(asyncio.CancelledError):
            await released.wait()
        return await real()

    service.store.health = swallowing  # type: ignore[method-assign]
    await service.start()
    await asyncio.wait_for(asking.wait(), 10)
    stopping = asyncio.create_task(service.stop())
    done, _ = await asyncio.wait({stopping}, timeout=10)
    released.set()  # lets a loop that went on end, so that a failure here leaves nothing behind
    assert stopping in done, "stop() still waits for the housekeeping loop"
    await stopping
