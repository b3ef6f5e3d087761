"""`keptn-notifier send-test`: post a test message to a channel and show the platform's answer."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from typing import Any

from notifier import __version__
from notifier.app.logs import setup_logging
from notifier.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    Commands,
    command,
    config_of,
    run_async,
)
from notifier.redact import Redactor
from notifier.render import render


def add(commands: Commands) -> None:
    send_test = command(commands, "send-test", "post a test message to a channel and show the platform's answer", run)
    send_test.add_argument(
        "channel", help="the channel's name (from the config, or slack-webhook/slack-bot/teams/console)"
    )


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = config_of(args, env)
    if args.channel not in config.channels:
        raise CliError(f"unknown channel {args.channel!r}; channels: {', '.join(config.channels)}")
    redact = Redactor(config.secrets())
    setup_logging("WARNING", redact)
    from notifier.channels import build_channel, channel_format
    from notifier.channels.base import ChannelContext, Outcome
    from notifier.channels.http_post import shared_session
    from notifier.message import Fact, Message, Severity

    message = Message(
        title="keptn-notifier test message",
        severity=Severity.INFO,
        text="If you can read this, the channel works.",
        facts=(Fact("Channel", args.channel), Fact("Sent at", time.strftime("%Y-%m-%d %H:%M:%S %Z"))),
        footer=f"keptn-notifier {__version__}",
    )
    channel_config = config.channels[args.channel]

    async def send() -> Any:
        async with shared_session() as session:
            channel = build_channel(args.channel, channel_config, ChannelContext(session, sys.stdout))
            return await channel.send(render(channel_format(channel_config), message))

    result = run_async(send())
    # send-test tries once: say what the service would do next, not the outcome's internal name.
    outcome = {
        Outcome.SENT: result.reason,
        Outcome.RETRY: f"{result.reason}, temporary: the service would try again later",
        Outcome.DEAD: f"{result.reason}, permanent: the service would not try again",
    }[result.outcome]
    verb = "sent" if result.outcome is Outcome.SENT else "failed"
    print(redact(f"{args.channel}: {verb} ({outcome}) {result.detail}".rstrip()))
    return EXIT_OK if result.outcome is Outcome.SENT else EXIT_FAILED
