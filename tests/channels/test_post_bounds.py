"""What bounds a webhook post: the channel's own `timeout` alone, up to the 120 s the config allows.

The shared session once had a 30 s total of its own, which cut every longer channel timeout short. These tests
run on an event loop whose clock the test moves on, so that the timers of asyncio and aiohttp fire at the
moments they were set for, and nothing waits for real time.
"""

from __future__ import annotations

import asyncio
import io

from notifier.channels import build_channel
from notifier.channels.base import ChannelContext, Outcome, SendResult
from notifier.channels.http_post import shared_session
from notifier.channels.slack import SlackConfig
from notifier.channels.teams import TeamsConfig

MESSAGE = {"text": "held up"}
# A channel timeout beyond the session's old 30 s, and the schema's maximum.
TIMEOUTS = (45.0, 120.0)


class MovableClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps ahead when told: every timer due by then fires at its next turn."""

    def __init__(self) -> None:
        super().__init__()
        self.ahead = 0.0

    def time(self) -> float:
        return super().time() + self.ahead


async def _held_post(loop: MovableClockLoop, channel_type: str, timeout: float) -> tuple[bool, SendResult]:
    """Post to a platform that reads the request and never answers; move the clock to just before the channel's
    timeout, note whether the send is still waiting, then past it, and return that and the send's result."""
    arrived, hung_up = asyncio.Event(), asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        arrived.set()
        await reader.read()  # until the client gives up and closes the connection
        writer.close()
        await writer.wait_closed()
        hung_up.set()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    config = (
        SlackConfig(type="slack", webhook_url=url, timeout=timeout)
        if channel_type == "slack"
        else TeamsConfig(type="teams", webhook_url=url, timeout=timeout)
    )
    async with server, shared_session() as session:
        channel = build_channel("held", config, ChannelContext(session, io.StringIO()))
        send = asyncio.ensure_future(channel.send(MESSAGE))
        await arrived.wait()
        loop.ahead += timeout - 1
        for _ in range(10):  # turns of the loop for whatever timers are due to fire and their callbacks to run
            await asyncio.sleep(0)
        waiting = not send.done()
        loop.ahead += 2
        result = await send
        await hung_up.wait()
    return waiting, result


def _run_held_post(channel_type: str, timeout: float) -> tuple[bool, SendResult]:
    loop = MovableClockLoop()
    try:
        return loop.run_until_complete(_held_post(loop, channel_type, timeout))
    finally:
        loop.close()


def test_a_slack_webhook_post_waits_for_its_channel_timeout_and_no_less() -> None:
    for timeout in TIMEOUTS:
        waiting, result = _run_held_post("slack", timeout)
        assert waiting, f"a post with a {timeout} s channel timeout was cut short before it"
        assert (result.outcome, result.reason) == (Outcome.RETRY, "timeout")


def test_a_teams_post_waits_for_its_channel_timeout_and_no_less() -> None:
    waiting, result = _run_held_post("teams", 120.0)
    assert waiting
    assert (result.outcome, result.reason) == (Outcome.RETRY, "timeout")


def test_the_shared_session_sets_no_bound_of_its_own() -> None:
    async def timeout_fields() -> list[float | None]:
        async with shared_session() as session:
            bound = session.timeout
            return [bound.total, bound.connect, bound.sock_read, bound.sock_connect]

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(timeout_fields()) == [None, None, None, None]
    finally:
        loop.close()
