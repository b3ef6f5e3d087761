"""Shared fixtures: a fake chat platform, and the HTTP session and context channels are built with."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

import notifier.cli.common as cli
from notifier.app import checks, service
from notifier.channels.base import ChannelContext
from notifier.templating import TemplateLimits, TemplateSet
from notifier.templating.sandbox import DEFAULT_LIMITS
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


# -- one compile of each template set per worker ------------------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def template_sets_compiled_once() -> Iterator[None]:
    """The service and the CLI build their TemplateSet from the config each time they start, as they should; the
    tests start them hundreds of times (every in-process CLI call, every in-process service), and compiling the
    templates is 0.1 s each time: a third of the suite's CPU. A set is a pure function of its files and settings,
    so the same files and settings get the same set here. A set that fails to build is never kept: every test of
    a broken template still sees the error. docs/testing.md has the figures."""
    built: dict[tuple[object, ...], TemplateSet] = {}

    def template_set(
        user_dir: Path | None, bridge_url: str = "", limits: TemplateLimits = DEFAULT_LIMITS
    ) -> TemplateSet:
        if user_dir is not None and not Path(user_dir).is_dir():
            return TemplateSet(user_dir, bridge_url, limits)  # raises what the user sees
        key = (_files_of(user_dir), bridge_url, limits)
        found = built.get(key)
        if found is None:
            found = built[key] = TemplateSet(user_dir, bridge_url, limits)
        return found

    with pytest.MonkeyPatch.context() as patch:
        for module in (cli, service, checks):
            patch.setattr(module, "TemplateSet", template_set)
        yield


def _files_of(folder: Path | None) -> tuple[object, ...]:
    """What a template folder holds, to tell two sets apart: its path, and every file's path and bytes."""
    if folder is None:
        return ()
    root = Path(folder)
    files = sorted(path for path in root.rglob("*") if path.is_file())
    return (str(root.resolve()), *((str(path.relative_to(root)), path.read_bytes()) for path in files))
