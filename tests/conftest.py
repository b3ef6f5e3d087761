"""Shared fixtures: a fake chat platform, and the HTTP session and context channels are built with."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from notifier.channels.base import ChannelContext
from tests.fakes import FakeChatServer

AiohttpServer = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def chat_server(aiohttp_server: AiohttpServer) -> FakeChatServer:
    """A fake Slack + Teams on a free 127.0.0.1 port, closed after the test."""
    fake = FakeChatServer()
    # No access log: it would put the fake's request paths (credentials in tests) into caplog.
    server = await aiohttp_server(fake.app, host="127.0.0.1", access_log=None)
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def console_output() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def channel_context(http_session: aiohttp.ClientSession, console_output: io.StringIO) -> ChannelContext:
    return ChannelContext(session=http_session, stdout=console_output)
