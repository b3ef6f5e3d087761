"""The console channel: text on the chosen stream, a blank line between messages, never a failure to retry."""

from __future__ import annotations

import io

import pytest
from pydantic import ValidationError

from notifier.channels import build_channel, channel_format
from notifier.channels.base import ChannelContext, Outcome
from notifier.channels.console import ConsoleConfig


async def test_writes_each_message_followed_by_a_blank_line(
    channel_context: ChannelContext, console_output: io.StringIO
) -> None:
    channel = build_channel("log", ConsoleConfig(type="console"), channel_context)

    first = await channel.send("carts deployed\nto production\n")
    second = await channel.send("carts evaluated")

    assert (first.outcome, second.outcome) == (Outcome.SENT, Outcome.SENT)
    assert console_output.getvalue() == "carts deployed\nto production\n\ncarts evaluated\n\n"


async def test_stderr_leaves_stdout_alone(
    channel_context: ChannelContext, console_output: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = build_channel("log", ConsoleConfig(type="console", stream="stderr"), channel_context)

    result = await channel.send("to stderr")

    assert result.outcome is Outcome.SENT
    assert capsys.readouterr().err == "to stderr\n\n"
    assert console_output.getvalue() == ""


async def test_a_structured_payload_is_shown_as_json(
    channel_context: ChannelContext, console_output: io.StringIO
) -> None:
    await build_channel("log", ConsoleConfig(type="console"), channel_context).send({"text": "hi"})

    assert console_output.getvalue() == '{\n  "text": "hi"\n}\n\n'


async def test_a_closed_stream_is_dead_not_an_exception(channel_context: ChannelContext) -> None:
    closed = io.StringIO()
    closed.close()
    context = ChannelContext(session=channel_context.session, stdout=closed)

    result = await build_channel("log", ConsoleConfig(type="console"), context).send("lost")

    assert (result.outcome, result.reason) == (Outcome.DEAD, "write_error")


def test_config_is_unpaced_text_and_strict() -> None:
    config = ConsoleConfig(type="console")
    assert config.rate_limit is None
    assert channel_format(config) == "text"
    with pytest.raises(ValidationError, match="'stdout' or 'stderr'"):
        ConsoleConfig.model_validate({"type": "console", "stream": "file"})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ConsoleConfig.model_validate({"type": "console", "colour": True})
