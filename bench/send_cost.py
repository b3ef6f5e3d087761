"""CPU per send of the webhook channels against the benchmark's sink, A/B in one process.

    python -m bench.send_cost [--sends N] [--rounds R] [--json FILE]

Each variant posts one Block Kit-sized message N times, one after the other, through one shared aiohttp
session to `bench.sink` (its own process, so its work is not counted); the figure is this process's CPU time
per send. `slack-sdk` is how incoming-webhook posts went before (slack-sdk's AsyncWebhookClient, classified the
same way); `slack-webhook` and `teams` are the channels as they are. Rounds alternate the variants, A B A B,
and the report gives each variant's median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bench.loop import run
from bench.procs import POLL
from notifier.channels import build_channel
from notifier.channels.base import ChannelContext, Outcome, SendResult
from notifier.channels.http_errors import classify_exception, classify_response
from notifier.channels.slack import SlackConfig
from notifier.channels.teams import TeamsConfig
from notifier.redact import Redactor

WEBHOOK_PATH = "/slack/services/T0BENCH/B0BENCH/benchSecretPart"
TEAMS_PATH = "/teams/workflows/bench/triggers/manual/paths/invoke?api-version=1&sig=benchSig"
START_TIMEOUT = 10.0
Send = Callable[[dict[str, Any]], Awaitable[SendResult]]


def message() -> dict[str, Any]:
    """About the size and shape of an evaluation message: a header, a section with fields, a context, a button."""
    fields = [{"type": "mrkdwn", "text": f"*indicator_{index}*\n{index * 37.5} ms (pass)"} for index in range(6)]
    return {
        "text": "Evaluation of carts in staging: pass (score 100)",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Evaluation passed: carts in staging"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "Score *100* of 100, result *pass*"}},
            {"type": "section", "fields": fields},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "Keptn context 3a1b2c3d-4e5f"}]},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in Bridge"},
                        "url": "https://bridge.example.com/project/sockshop/sequence/3a1b2c3d",
                    }
                ],
            },
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def slack_sdk_send(session: aiohttp.ClientSession, url: str) -> Send:
    """The incoming-webhook path before the direct post: slack-sdk's client, answer classified as the channel does."""
    redactor = Redactor([])
    logger = logging.Logger("bench.send_cost.sdk", logging.INFO)
    client = AsyncWebhookClient(url, timeout=10, session=session, logger=logger, retry_handlers=[])
    client.proxy = None

    async def send(payload: dict[str, Any]) -> SendResult:
        try:
            async with asyncio.timeout(10):
                response = await client.send_dict(payload)
        except Exception as exc:
            return classify_exception(exc, redactor, timeout=10)
        body = response.body or ""
        delivered = 200 <= response.status_code < 300 and body.strip() == "ok"
        return classify_response(response.status_code, body, response.headers, redactor, delivered=delivered)

    return send


async def measure(send: Send, payload: dict[str, Any], sends: int) -> float:
    """Microseconds of this process's CPU per send; every send must be delivered."""
    await send(payload)  # warm: the connection is open and pooled before the clock starts
    started = time.process_time()
    for _ in range(sends):
        result = await send(payload)
        if result.outcome is not Outcome.SENT:
            raise RuntimeError(f"the sink did not take a send: {result}")
    return (time.process_time() - started) / sends * 1e6


async def compare(sink_url: str, sends: int, rounds: int) -> dict[str, Any]:
    payload = message()
    async with aiohttp.ClientSession() as session:
        context = ChannelContext(session=session, stdout=sys.stdout)
        variants: dict[str, Send] = {
            "slack-sdk": slack_sdk_send(session, sink_url + WEBHOOK_PATH),
            "slack-webhook": build_channel(
                "bench-slack", SlackConfig(type="slack", webhook_url=sink_url + WEBHOOK_PATH), context
            ).send,
            "teams": build_channel(
                "bench-teams", TeamsConfig(type="teams", webhook_url=sink_url + TEAMS_PATH), context
            ).send,
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, send in variants.items():
                samples[name].append(await measure(send, payload, sends))
    return {
        "sends_per_round": sends,
        "rounds": rounds,
        "us_per_send": {name: statistics.median(values) for name, values in samples.items()},
        "samples_us": samples,
    }


def start_sink(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    ready = workdir / "sink.port"
    command = [sys.executable, "-m", "bench.sink", "--ready-file", str(ready), "--max-lifetime", "600"]
    sink = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT
    while not (ready.exists() and ready.read_text()):
        if sink.poll() is not None or time.monotonic() > deadline:
            sink.kill()
            raise RuntimeError("the sink did not start")
        time.sleep(POLL)
    return sink, f"http://127.0.0.1:{ready.read_text()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sends", type=int, default=3000, help="sends per variant and round (default 3000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, variants alternating (default 3)")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="send-cost-") as workdir:
        sink, url = start_sink(Path(workdir))
        try:
            result = run(compare(url, args.sends, args.rounds))
        finally:
            sink.terminate()
            sink.wait(10)
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    for name, value in result["us_per_send"].items():
        print(f"{name:>14}: {value:7.1f} us CPU per send", file=sys.stderr)


if __name__ == "__main__":
    main()
