"""The rules every HTTP channel shares, checked against the fake platforms for each of them."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http import HTTPStatus

import pytest

from notifier.channels import build_channel
from notifier.channels.base import Channel, ChannelConfig, ChannelContext, Outcome
from notifier.channels.http_errors import retry_after_seconds
from notifier.channels.slack import SlackConfig
from notifier.channels.teams import TeamsConfig
from tests.fakes import POST_MESSAGE, FakeChatServer, Reply, assert_no_secret

WEBHOOK_PATH = "/slack/services/T0FAKE0001/B0FAKE0001/WebhookS3cretPart24chars"
TOKEN = "xoxb-1111-2222-T0kenS3cretPart"
TEAMS_PATH = "/teams/workflows/6a1f0c3e9d2b4c/triggers/manual/paths/invoke"
TEAMS_SIG = "SigS3cretValue_0123456789abcdef"
TEAMS_QUERY = f"api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}"
HTML_ERROR = "<html><body><h1>Something went wrong</h1></body></html>"
# Every registered status a server may answer with, plus unregistered ones at the edges of each class.
STATUSES = tuple(sorted({int(s) for s in HTTPStatus if s >= 200} | {299, 399, 499, 599}))


@dataclass(frozen=True)
class HttpKind:
    """One way of talking to a platform over HTTP, and what its success looks like on the wire."""

    name: str
    path: str
    success: Reply
    make_config: Callable[[str, float], ChannelConfig]
    # Statuses that count as delivered, given the success body above (204 carries no body at all).
    delivered: Callable[[int], bool]
    # The credential, whole and in its recognisable parts: none may ever show up.
    secrets: tuple[str, ...]
    # Where the credential sits in a URL (the query holds Teams' sig=).
    query: str = ""

    def channel(self, server_url: str, context: ChannelContext, timeout: float = 5.0) -> Channel:
        return build_channel(f"test-{self.name}", self.make_config(server_url, timeout), context)


KINDS = (
    HttpKind(
        name="slack_webhook",
        path=WEBHOOK_PATH,
        success=Reply(200, "ok", {"Content-Type": "text/html"}),
        make_config=lambda url, timeout: SlackConfig(type="slack", webhook_url=url + WEBHOOK_PATH, timeout=timeout),
        delivered=lambda status: 200 <= status < 300 and status != 204,
        secrets=(WEBHOOK_PATH, "WebhookS3cretPart24chars"),
    ),
    HttpKind(
        name="slack_bot",
        path=POST_MESSAGE,
        success=Reply(200, '{"ok": true, "channel": "C0123", "ts": "1.0"}', {"Content-Type": "application/json"}),
        make_config=lambda url, timeout: SlackConfig(
            type="slack", token=TOKEN, channel="C0123", api_url=url + "/api/", timeout=timeout
        ),
        delivered=lambda status: status == 200,
        secrets=(TOKEN, "T0kenS3cretPart"),
    ),
    HttpKind(
        name="teams",
        path=TEAMS_PATH,
        success=Reply(202, ""),
        make_config=lambda url, timeout: TeamsConfig(
            type="teams", webhook_url=f"{url}{TEAMS_PATH}?{TEAMS_QUERY}", timeout=timeout
        ),
        delivered=lambda status: 200 <= status < 300,
        secrets=(TEAMS_PATH, TEAMS_SIG),
        query=TEAMS_QUERY,
    ),
)

MESSAGE = {"text": "deployment of carts finished", "blocks": [], "type": "message"}


@pytest.fixture(params=KINDS, ids=[kind.name for kind in KINDS])
def kind(request: pytest.FixtureRequest) -> HttpKind:
    chosen: HttpKind = request.param
    return chosen


def expected_outcome(kind: HttpKind, status: int) -> tuple[Outcome, str]:
    """The shared mapping, written out independently of the code under test."""
    if 200 <= status < 300:
        return (Outcome.SENT, "ok") if kind.delivered(status) else (Outcome.DEAD, "unexpected_response")
    if status == 429:
        return Outcome.RETRY, "rate_limited"
    if status == 408:
        return Outcome.RETRY, "timeout"
    if status >= 500:
        return Outcome.RETRY, "server_error"
    return Outcome.DEAD, f"http_{status}"


async def test_every_status_maps_to_the_shared_outcome(
    kind: HttpKind, chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    channel = kind.channel(chat_server.url, channel_context)
    for status in STATUSES:
        answer = kind.success if 200 <= status < 300 else Reply(status, HTML_ERROR, {"Content-Type": "text/html"})
        chat_server.on(kind.path, Reply(status, answer.body, answer.headers))
        result = await channel.send(MESSAGE)
        assert (result.outcome, result.reason) == expected_outcome(kind, status), f"HTTP {status}: {result}"
    assert len(chat_server.received_on(kind.path)) == len(STATUSES)


async def test_success_posts_the_message_once(
    kind: HttpKind, chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    result = await kind.channel(chat_server.url, channel_context).send(MESSAGE)

    assert result.outcome is Outcome.SENT
    [received] = chat_server.received_on(kind.path)
    assert received.json["text"] == MESSAGE["text"]


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", 7.0), ("0.5", 0.5), (None, 1.0), ("soon", 1.0), ("-3", 1.0), ("nan", 1.0)],
)
async def test_rate_limit_reads_retry_after(
    kind: HttpKind,
    chat_server: FakeChatServer,
    channel_context: ChannelContext,
    retry_after: str | None,
    expected: float,
) -> None:
    chat_server.on(kind.path, Reply.rate_limited(retry_after=retry_after))

    result = await kind.channel(chat_server.url, channel_context).send(MESSAGE)

    assert (result.outcome, result.reason, result.retry_after) == (Outcome.RETRY, "rate_limited", expected)


def test_retry_after_as_http_date() -> None:
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 <= retry_after_seconds({"Retry-After": in_a_minute}) <= 60
    long_ago = format_datetime(datetime(2001, 1, 1, tzinfo=UTC), usegmt=True)
    assert retry_after_seconds({"Retry-After": long_ago}) == 1.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried(
    kind: HttpKind, chat_server: FakeChatServer, channel_context: ChannelContext, status: int
) -> None:
    chat_server.on(kind.path, Reply.server_error(status))

    result = await kind.channel(chat_server.url, channel_context).send(MESSAGE)

    assert (result.outcome, result.reason) == (Outcome.RETRY, "server_error")
    assert str(status) in result.detail


async def test_a_hanging_platform_times_out_within_the_channel_timeout(
    kind: HttpKind, chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    channel = kind.channel(chat_server.url, channel_context, timeout=0.3)
    chat_server.on(kind.path, Reply.hang(30))

    started = time.monotonic()
    result = await channel.send(MESSAGE)
    elapsed = time.monotonic() - started

    assert (result.outcome, result.reason) == (Outcome.RETRY, "timeout")
    assert 0.25 <= elapsed < 1.5
    # The channel stays usable once the platform answers again.
    assert (await channel.send(MESSAGE)).outcome is Outcome.SENT


async def test_a_reset_connection_is_a_connection_error(
    kind: HttpKind, chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    chat_server.on(kind.path, Reply.connection_reset())

    result = await kind.channel(chat_server.url, channel_context).send(MESSAGE)

    assert (result.outcome, result.reason) == (Outcome.RETRY, "connection_error")


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_a_closed_port_is_a_connection_error(kind: HttpKind, channel_context: ChannelContext) -> None:
    result = await kind.channel(closed_port_url(), channel_context).send(MESSAGE)

    assert (result.outcome, result.reason) == (Outcome.RETRY, "connection_error")


def echo_of_credentials(kind: HttpKind, server_url: str) -> str:
    """An answer quoting the request back, as proxies and error pages do."""
    return f"bad request to {kind_url(kind, server_url)} with Authorization: Bearer {TOKEN}"


def kind_url(kind: HttpKind, server_url: str) -> str:
    return f"{server_url}{kind.path}?{kind.query}" if kind.query else f"{server_url}{kind.path}"


Fault = Callable[[HttpKind, str], Reply]
FAULTS: tuple[tuple[str, Fault], ...] = (
    ("success", lambda kind, url: kind.success),
    ("echo_400", lambda kind, url: Reply(400, echo_of_credentials(kind, url))),
    ("echo_503", lambda kind, url: Reply(503, echo_of_credentials(kind, url), {"Content-Type": "text/plain"})),
    ("echo_200", lambda kind, url: Reply(200, echo_of_credentials(kind, url), {"Content-Type": "text/plain"})),
    ("echo_json", lambda kind, url: Reply(200, json.dumps({"ok": False, "error": echo_of_credentials(kind, url)}))),
    ("rate_limited", lambda kind, url: Reply.rate_limited(retry_after=1)),
    ("reset", lambda kind, url: Reply.connection_reset()),
    ("hang", lambda kind, url: Reply.hang(30)),
    # A redirect loop: aiohttp's TooManyRedirects quotes the URL it gave up on.
    ("redirect_loop", lambda kind, url: Reply(307, "", {"Location": kind_url(kind, url)})),
)


@pytest.mark.parametrize("fault", [fault for _, fault in FAULTS], ids=[name for name, _ in FAULTS])
async def test_no_credential_escapes_in_details_or_logs(
    kind: HttpKind,
    chat_server: FakeChatServer,
    channel_context: ChannelContext,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = kind.channel(chat_server.url, channel_context, timeout=0.3)
    # Enough copies for a redirect loop to run out of redirects.
    chat_server.on(kind.path, *([fault(kind, chat_server.url)] * 12))

    result = await channel.send(MESSAGE)  # send never raises: an escaping exception fails this test

    assert result.detail
    assert_no_secret(result.detail + result.reason, kind.secrets)
    assert_no_secret(caplog.text, kind.secrets)


async def test_a_credential_cut_short_in_the_detail_is_still_masked(
    kind: HttpKind, chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    # The detail keeps the first 200 characters of the body: this credential straddles that cut.
    credential = kind.secrets[0]
    chat_server.on(kind.path, Reply(400, "x" * 185 + credential))

    result = await kind.channel(chat_server.url, channel_context).send(MESSAGE)

    assert result.outcome is Outcome.DEAD
    assert credential[:15] not in result.detail


async def test_a_closed_port_leaks_no_credential(
    kind: HttpKind, channel_context: ChannelContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    result = await kind.channel(closed_port_url(), channel_context).send(MESSAGE)

    assert result.detail
    assert_no_secret(result.detail, kind.secrets)
    assert_no_secret(caplog.text, kind.secrets)
