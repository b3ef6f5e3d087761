"""Two services on one NATS JetStream store (NOTIFIER_STORE=nats): replicas that send as one.

Real services, a real nats-server and the fake Slack; the times asserted are the platform's limits, with the
same tolerance as tests/delivery/test_delivery.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fakes import FakeChatServer, Reply
from tests.helpers import every_route, keptn_event, running_service, slack_hook
from tests.nats_server import NatsServer, nats_server

__all__ = ["nats_server"]

# Slack's one a second, five times faster so that the test is short.
INTERVAL = 0.2
TOLERANCE = 0.05


async def test_two_replicas_send_each_notification_once_keeping_the_rate_and_retry_after_together(
    tmp_path: Path, chat_server: FakeChatServer, nats_server: NatsServer
) -> None:
    chat_server.on("/slack/slow", Reply.rate_limited(retry_after=2))
    slow = {**slack_hook(chat_server.url, "slow"), "rate_limit": {"per_second": 1 / INTERVAL, "burst": 1}}
    config = {"channels": {"slow": slow}, "routes": every_route("slow")}
    shared = {"store": "nats", "nats_url": nats_server.url, "nats_prefix": "two-replicas"}
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    async with (
        running_service(tmp_path / "one", config, **shared) as one,
        running_service(tmp_path / "two", config, **shared) as two,
    ):
        for index in range(8):
            status, _ = await (one if index % 2 else two).post_json(keptn_event(f"e{index}", project=f"proj{index}"))
            assert status == 202
        # The same event at both replicas: one message.
        for replica in (one, two):
            status, _ = await replica.post_json(keptn_event("twice", project="projtwice"))
            assert status == 202
        # 9 notifications and the one attempt Slack throttled.
        await chat_server.wait_for(10, "/slack/slow", timeout=30)
        await asyncio.sleep(1.0)
        sent = [
            await replica.metric("keptn_notifier_notifications_sent_total", channel="slow") for replica in (one, two)
        ]
    received = sorted(chat_server.received_on("/slack/slow"), key=lambda item: item.at)
    assert len(received) == 10 and sum(sent) == 9
    names = [*(f"proj{index}" for index in range(8)), "projtwice"]
    # After the throttled attempt, each notification exactly once, whichever replica sent it.
    assert sorted(name for item in received[1:] for name in names if name in item.body.decode()) == sorted(names)
    throttled_at = received[0].at
    # Nobody sent during the Retry-After one replica was told, and together they kept to the channel's rate: the
    # nine sends took at least eight intervals (each replica pacing alone would have taken half that). A busy
    # machine only makes them later, so this holds under load, where the gap between two sends need not.
    assert all(item.at >= throttled_at + 2 - TOLERANCE for item in received[1:])
    assert received[-1].at - received[1].at >= (len(received) - 2) * INTERVAL - TOLERANCE
