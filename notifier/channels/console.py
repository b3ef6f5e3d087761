"""The console: messages as plain text on stdout or stderr, for trying templates and for local runs."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import IO, Literal

import orjson

from notifier.channels.base import (
    Channel,
    ChannelConfig,
    ChannelContext,
    EnvChannel,
    Payload,
    SendResult,
    unsupported_follow_up,
)
from notifier.message_ref import MessageRef


class ConsoleConfig(ChannelConfig):
    type: Literal["console"]
    stream: Literal["stdout", "stderr"] = "stdout"


def console_format(config: ConsoleConfig) -> str:
    return ConsoleChannel.format


def console_from_env(env: Mapping[str, str]) -> Iterator[EnvChannel]:
    """The channel `console`: where messages go when no other channel is configured."""
    yield EnvChannel("console", "", {"type": "console"})


def build_console(name: str, config: ConsoleConfig, context: ChannelContext) -> Channel:
    return ConsoleChannel(name, context.stdout if config.stream == "stdout" else sys.stderr)


class ConsoleChannel:
    format = "text"
    threads_and_edits = False

    def __init__(self, name: str, stream: IO[str]) -> None:
        self.name = name
        self._stream = stream

    async def send(
        self, payload: Payload, *, reply_to: MessageRef | None = None, replace: MessageRef | None = None
    ) -> SendResult:
        if refused := unsupported_follow_up(reply_to, replace):
            return refused
        text = payload if isinstance(payload, str) else orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()
        try:
            # A blank line between messages keeps consecutive ones apart.
            self._stream.write(text.rstrip("\n") + "\n\n")
            self._stream.flush()
        except (OSError, ValueError) as exc:  # a closed stream or a broken pipe will not heal by retrying
            return SendResult.dead("write_error", f"{type(exc).__name__}: {exc}")
        return SendResult.sent()
