"""kill -9 in the middle of delivery, restart on the same state: every accepted event arrives, none twice."""

import asyncio
import re
from collections import Counter
from pathlib import Path

import aiohttp
import orjson

from tests.fakes import FakeChatServer, Reply
from tests.helpers import ServiceProcess, keptn_event

EVENTS = 300
CONTEXT = re.compile(rb"ctx-(crash-\d+)")


def delivered(chat: FakeChatServer, path: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for item in chat.received_on(path):
        found = set(CONTEXT.findall(item.body))
        assert len(found) == 1, item.body[:200]
        counts[found.pop().decode()] += 1
    return counts


async def test_sigkill_during_delivery_loses_nothing_and_duplicates_at_most_the_send_in_flight(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    # Paced channels send one at a time: at most one send can be in flight when the process dies.
    paced = {"per_second": 1000, "burst": 50}
    config = {
        "channels": {
            "hook": {"type": "slack", "webhook_url": f"{chat_server.url}/slack/hook", "rate_limit": paced},
            "teams": {
                "type": "teams",
                "webhook_url": f"{chat_server.url}/teams/t?sig=abcdefgh12345",
                "rate_limit": paced,
            },
        },
        "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["hook", "teams"]}],
    }
    # A slow platform so that the kill lands in the middle of the backlog.
    chat_server.on("/slack/hook", *[Reply(delay=0.01)] * EVENTS)
    chat_server.on("/teams/t", *[Reply(status=202, body="", delay=0.01)] * EVENTS)
    service = ServiceProcess(config, tmp_path)
    service.start()
    try:
        async with aiohttp.ClientSession() as session:

            async def post(index: int) -> int:
                body = orjson.dumps(keptn_event(f"crash-{index}"))
                async with session.post(
                    service.url, data=body, headers={"Content-Type": "application/cloudevents+json"}
                ) as response:
                    return response.status

            statuses = await asyncio.gather(*(post(i) for i in range(EVENTS)))
        assert statuses == [202] * EVENTS
        await chat_server.wait_for(40, "/slack/hook", timeout=30)
        service.kill()
        before = len(chat_server.received_on("/slack/hook")), len(chat_server.received_on("/teams/t"))
        assert before[0] < EVENTS, "the kill came too late to test anything"
        service.start()
        await chat_server.wait_for(EVENTS, "/slack/hook", timeout=60)
        await chat_server.wait_for(EVENTS, "/teams/t", timeout=60)
        await asyncio.sleep(0.5)
    finally:
        service.close()
    for path in ("/slack/hook", "/teams/t"):
        counts = delivered(chat_server, path)
        assert set(counts) == {f"crash-{i}" for i in range(EVENTS)}, f"{path}: lost events"
        twice = [key for key, count in counts.items() if count > 1]
        assert len(twice) <= 1 and all(counts[key] == 2 for key in twice), f"{path}: duplicates {twice}"
