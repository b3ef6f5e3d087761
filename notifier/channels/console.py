"""The console: messages as plain text on stdout or stderr, for trying templates and for local runs."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator, Mapping
from typing import IO, Literal

import orjson

from notifier.channels.base import Channel, ChannelConfig, ChannelContext, EnvChannel, SendResult, unsupported_follow_up
from notifier.message import MessageRef, Payload


class ConsoleConfig(ChannelConfig):
    type: Literal["console"]
    stream: Literal["stdout", "stderr"] = "stdout"
    # Show each Keptn run as a Slack bot channel does: its run message, each edit of it, and its thread's replies.
    threads: bool = False

    def can_thread(self) -> bool:
        return self.threads


def console_format(config: ConsoleConfig) -> str:
    return ConsoleChannel.format


def console_from_env(env: Mapping[str, str]) -> Iterator[EnvChannel]:
    """The channel `console`: where messages go when no other channel is configured."""
    yield EnvChannel("console", "", {"type": "console"})


def build_console(name: str, config: ConsoleConfig, context: ChannelContext) -> Channel:
    return ConsoleChannel(name, context.stdout if config.stream == "stdout" else sys.stderr, config.threads)


class ConsoleChannel:
    format = "text"

    def __init__(self, name: str, stream: IO[str], threads: bool = False) -> None:
        self.name = name
        self._stream = stream
        # With threads, a reply or an edit is printed like a new message: the run threads say what it is.
        self._threads = threads
        self._numbers = itertools.count(1)

    async def send(
        self, payload: Payload, *, reply_to: MessageRef | None = None, replace: MessageRef | None = None
    ) -> SendResult:
        if not self._threads and (refused := unsupported_follow_up(reply_to, replace)):
            return refused
        text = payload if isinstance(payload, str) else orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()
        try:
            # A blank line between messages keeps consecutive ones apart.
            self._stream.write(text.rstrip("\n") + "\n\n")
            self._stream.flush()
        except (OSError, ValueError) as exc:  # a closed stream or a broken pipe will not heal by retrying
            return SendResult.dead("write_error", f"{type(exc).__name__}: {exc}")
        if not self._threads:
            return SendResult.sent()
        return SendResult.sent(ref=replace or MessageRef(self.name, str(next(self._numbers))))
