"""The rules every HTTP channel shares, checked against the fake platforms for each of them."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import format_datetime
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest

from notifier.channels import build_channel
from notifier.channels.base import Channel, ChannelConfig, ChannelContext, Outcome
from notifier.channels.http_errors import retry_after_seconds
from notifier.channels.slack import SlackConfig
from notifier.channels.teams import TeamsConfig
from tests.fakes import FakeChatServer, Reply, assert_no_secret

WEBHOOK_PATH = "/slack/services/T0FAKE0001/B0FAKE0001/WebhookS3cretPart24chars"
TOKEN = "xoxb-1111-2222-T0kenS3cretPart"
TEAMS_PATH = "/teams/workflows/6a1f0c3e9d2b4c/triggers/manual/paths/invoke"
TEAMS_SIG = "SigS3cretValue_0123456789abcdef"
TEAMS_QUERY = f"api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}"
POST_MESSAGE = "/api/chat.postMessage"
# What must never show up, whatever the channel: each credential whole and in its recognisable parts.
SECRETS = (WEBHOOK_PATH, TOKEN, TEAMS_PATH, TEAMS_SIG, "WebhookS3cretPart24chars", "T0kenS3cretPart")
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

    def channel(self, server_url: str, context: ChannelContext, timeout: float = 5.0) -> Channel:
        return build_channel(f"test-{self.name}", self.make_config(server_url, timeout), context)


KINDS = (
    HttpKind(
        name="slack_webhook",
        path=WEBHOOK_PATH,
        success=Reply(200, "ok", {"Content-Type": "text/html"}),
        make_config=lambda url, timeout: SlackConfig(type="slack", webhook_url=url + WEBHOOK_PATH, timeout=timeout),
        delivered=lambda status: 200 <= status < 300 and status != 204,
    ),
    HttpKind(
        name="slack_bot",
        path=POST_MESSAGE,
        success=Reply.api_error("unused").__class__(
            200, '{"ok": true, "channel": "C0123", "ts": "1.0"}', {"Content-Type": "application/json"}
        ),
        make_config=lambda url, timeout: SlackConfig(
            type="slack", token=TOKEN, channel="C0123", api_url=url + "/api/", timeout=timeout
        ),
        delivered=lambda status: status == 200,
    ),
    HttpKind(
        name="teams",
        path=TEAMS_PATH,
        success=Reply(202, ""),
        make_config=lambda url, timeout: TeamsConfig(
            type="teams", webhook_url=f"{url}{TEAMS_PATH}?{TEAMS_QUERY}", timeout=timeout
        ),
        delivered=lambda status: 200 <= status < 300,
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


def echo_of_credentials(server_url: str) -> str:
    return (
        f"bad request to {server_url}{WEBHOOK_PATH} and {server_url}{TEAMS_PATH}?{TEAMS_QUERY} "
        f"with Authorization: Bearer {TOKEN}"
    )


FAULTS: tuple[tuple[str, Callable[[str], Reply]], ...] = (
    ("success", lambda url: Reply(202, "")),
    ("echoes_credentials_400", lambda url: Reply(400, echo_of_credentials(url))),
    ("echoes_credentials_500", lambda url: Reply(503, echo_of_credentials(url), {"Content-Type": "text/plain"})),
    ("echoes_credentials_200", lambda url: Reply(200, echo_of_credentials(url), {"Content-Type": "text/plain"})),
    ("api_error_echo", lambda url: Reply(200, '{"ok": false, "error": "invalid_auth", "token": "%s"}' % TOKEN)),
    ("rate_limited", lambda url: Reply.rate_limited(retry_after=1)),
    ("reset", lambda url: Reply.connection_reset()),
    ("hang", lambda url: Reply.hang(30)),
    # A redirect loop: aiohttp's TooManyRedirects quotes the URL it gave up on.
    ("redirect_loop", lambda url: Reply(307, "", {"Location": url + WEBHOOK_PATH})),
)


@pytest.mark.parametrize("fault", [fault for _, fault in FAULTS], ids=[name for name, _ in FAULTS])
async def test_no_credential_escapes_in_details_logs_or_exceptions(
    kind: HttpKind,
    chat_server: FakeChatServer,
    channel_context: ChannelContext,
    caplog: pytest.LogCaptureFixture,
    fault: Callable[[str], Reply],
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = kind.channel(chat_server.url, channel_context, timeout=0.3)
    reply = fault(chat_server.url)
    # Enough copies for a redirect loop to run out of redirects.
    chat_server.on(kind.path, *([reply] * 12))
    chat_server.on(WEBHOOK_PATH, *([reply] * 12))

    result = await channel.send(MESSAGE)  # send never raises: an escaping exception fails this test

    assert_no_secret(result.detail, SECRETS)
    assert_no_secret(result.reason, SECRETS)
    assert_no_secret(caplog.text, SECRETS)
    assert_no_secret(repr(channel) + repr(vars(channel)), (WEBHOOK_PATH, TEAMS_SIG))


async def test_a_closed_port_leaks_no_credential(
    kind: HttpKind, channel_context: ChannelContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    result = await kind.channel(closed_port_url(), channel_context).send(MESSAGE)

    assert result.detail
    assert_no_secret(result.detail, SECRETS)
    assert_no_secret(caplog.text, SECRETS)
