"""Slack: config rules, the webhook and the bot sender against the fake Slack, and Slack's own error codes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notifier.channels import build_channel
from notifier.channels.base import ChannelContext, Outcome
from notifier.channels.slack import SlackBotChannel, SlackConfig, SlackWebhookChannel
from tests.fakes import POST_MESSAGE, FakeChatServer, Reply, assert_no_secret

WEBHOOK_PATH = "/slack/services/T0FAKE0001/B0FAKE0001/WebhookS3cretPart24chars"
REAL_WEBHOOK = "https://hooks.slack.com/services/T0FAKE0001/B0FAKE0001/WebhookS3cretPart24chars"
TOKEN = "xoxb-1111-2222-T0kenS3cretPart"
MESSAGE = {"text": "carts 0.13.2 is live in production", "blocks": [{"type": "divider"}]}


def webhook_config(server: FakeChatServer, **extra: object) -> SlackConfig:
    return SlackConfig.model_validate({"type": "slack", "webhook_url": server.url + WEBHOOK_PATH, **extra})


def bot_config(server: FakeChatServer, token: str = TOKEN) -> SlackConfig:
    return SlackConfig(type="slack", token=token, channel="C0123", api_url=server.url + "/api/")


# -- config ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"webhook_url": REAL_WEBHOOK, "token": TOKEN, "channel": "C1"}, "exactly one of webhook_url"),
        ({}, "exactly one of webhook_url"),
        ({"token": TOKEN}, "a bot token needs `channel`"),
        ({"webhook_url": REAL_WEBHOOK, "channel": "C1"}, "`channel` applies only to a bot token"),
        ({"webhook_url": "http://hooks.slack.com/services/T/B/WebhookS3cretPart24chars"}, "must use https"),
        ({"token": TOKEN, "channel": "C1", "api_url": "http://slack.example.com/api/"}, "must use https"),
        ({"webhook_url": "hooks.slack.com/services/T/B/X"}, "must be an http(s) URL"),
        ({"token": "T0kenS3cretPart", "channel": "C1"}, "must be a Slack token such as xoxb-"),
        ({"webhook_url": REAL_WEBHOOK, "username": "bot"}, "Extra inputs are not permitted"),
    ],
    ids=[
        "webhook_and_token",
        "neither",
        "token_without_channel",
        "channel_with_webhook",
        "http_webhook",
        "http_api_url",
        "no_scheme",
        "not_a_token",
        "unknown_key",
    ],
)
def test_invalid_configs_are_rejected_clearly(fields: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError) as raised:
        SlackConfig.model_validate({"type": "slack", **fields})

    assert complaint in str(raised.value)
    # The error text is logged at start-up: it must not quote the credential it rejected.
    assert_no_secret(str(raised.value), ("WebhookS3cretPart24chars", "T0kenS3cretPart"))


def test_http_is_allowed_to_loopback_or_when_asked() -> None:
    assert SlackConfig(type="slack", webhook_url="http://127.0.0.1:9/slack/x").webhook_url
    assert SlackConfig(type="slack", webhook_url="http://localhost/slack/x").webhook_url
    insecure = SlackConfig.model_validate(
        {"type": "slack", "allow_insecure": True, "webhook_url": "http://slack-proxy.internal/hook"}
    )
    assert insecure.webhook_url == "http://slack-proxy.internal/hook"


def test_secrets_cover_the_webhook_path_and_the_token() -> None:
    webhook = SlackConfig(type="slack", webhook_url=REAL_WEBHOOK)
    bot = SlackConfig(type="slack", token=TOKEN, channel="#deployments")

    assert "/services/T0FAKE0001/B0FAKE0001/WebhookS3cretPart24chars" in webhook.secrets()
    assert TOKEN in bot.secrets()
    assert_no_secret(repr(webhook) + repr(bot), (REAL_WEBHOOK, TOKEN))


def test_default_rate_limit_is_about_one_a_second_and_can_be_switched_off() -> None:
    paced = SlackConfig(type="slack", webhook_url=REAL_WEBHOOK)
    assert paced.rate_limit is not None
    assert (paced.rate_limit.per_second, paced.rate_limit.burst) == (1.0, 3)
    unpaced = SlackConfig.model_validate({"type": "slack", "webhook_url": REAL_WEBHOOK, "rate_limit": "off"})
    assert unpaced.rate_limit is None


# -- incoming webhook ------------------------------------------------------------------------------------


async def test_webhook_posts_only_the_message_fields(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    channel = build_channel("deploys", webhook_config(chat_server), channel_context)
    assert isinstance(channel, SlackWebhookChannel)
    assert channel.format == "slack"
    payload = {**MESSAGE, "link_names": True, "parse": "full", "channel": "#elsewhere"}

    result = await channel.send(payload)

    assert result.outcome is Outcome.SENT
    [received] = chat_server.received_on(WEBHOOK_PATH)
    assert received.json == MESSAGE
    assert received.headers["Content-Type"].startswith("application/json")


async def test_webhook_takes_a_plain_text_payload(chat_server: FakeChatServer, channel_context: ChannelContext) -> None:
    result = await build_channel("deploys", webhook_config(chat_server), channel_context).send("just text")

    assert result.outcome is Outcome.SENT
    assert chat_server.received_on(WEBHOOK_PATH)[0].json == {"text": "just text"}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalid_payload"),
        (400, "invalid_blocks"),
        (403, "action_prohibited"),
        (403, "invalid_token"),
        (404, "channel_not_found"),
        (404, "no_service"),
        (410, "channel_is_archived"),
    ],
)
async def test_webhook_errors_are_dead_with_slacks_code(
    chat_server: FakeChatServer, channel_context: ChannelContext, status: int, code: str
) -> None:
    chat_server.on(WEBHOOK_PATH, Reply.slack_error(status, code))

    result = await build_channel("deploys", webhook_config(chat_server), channel_context).send(MESSAGE)

    assert (result.outcome, result.reason) == (Outcome.DEAD, code)
    assert result.detail == f"HTTP {status}: {code}"


async def test_webhook_200_without_ok_is_not_delivered(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    chat_server.on(WEBHOOK_PATH, Reply(200, "<html>Sign in to continue</html>"))

    result = await build_channel("deploys", webhook_config(chat_server), channel_context).send(MESSAGE)

    assert (result.outcome, result.reason) == (Outcome.DEAD, "unexpected_response")


async def test_slack_sdk_does_not_retry_on_its_own(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    """The outbox owns retries: one send is one request, even where slack-sdk's defaults would retry."""
    webhook = build_channel("deploys", webhook_config(chat_server), channel_context)
    bot = build_channel("bot", bot_config(chat_server), channel_context)
    chat_server.on(WEBHOOK_PATH, Reply.connection_reset(), Reply.rate_limited(retry_after=0))
    chat_server.on(POST_MESSAGE, Reply.connection_reset(), Reply.api_error("ratelimited", status=429, retry_after=0))

    outcomes = [(await channel.send(MESSAGE)).reason for channel in (webhook, webhook, bot, bot)]

    assert outcomes == ["connection_error", "rate_limited", "connection_error", "rate_limited"]
    assert len(chat_server.received_on(WEBHOOK_PATH)) == 2
    assert len(chat_server.received_on(POST_MESSAGE)) == 2


async def test_proxy_variables_do_not_bypass_the_shared_session(
    chat_server: FakeChatServer, channel_context: ChannelContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # slack-sdk would send through HTTPS_PROXY and ignore NO_PROXY; the shared session decides instead.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")

    webhook = build_channel("deploys", webhook_config(chat_server), channel_context)
    bot = build_channel("bot", bot_config(chat_server), channel_context)

    assert (await webhook.send(MESSAGE)).outcome is Outcome.SENT
    assert (await bot.send(MESSAGE)).outcome is Outcome.SENT


# -- bot token (chat.postMessage) ------------------------------------------------------------------------


async def test_bot_posts_to_its_channel_with_the_token(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    channel = build_channel("bot", bot_config(chat_server), channel_context)
    assert isinstance(channel, SlackBotChannel)

    first = await channel.send(MESSAGE)
    second = await channel.send({**MESSAGE, "link_names": True})

    assert (first.outcome, second.outcome) == (Outcome.SENT, Outcome.SENT)
    requests = chat_server.received_on(POST_MESSAGE)
    assert [r.headers["Authorization"] for r in requests] == [f"Bearer {TOKEN}"] * 2
    assert [r.json for r in requests] == [{"channel": "C0123", **MESSAGE}] * 2
    # The fake hands out increasing message timestamps, kept in the detail for threading later.
    assert '"ts":"1700000001.000001"' in first.detail
    assert '"ts":"1700000002.000002"' in second.detail


@pytest.mark.parametrize(
    "code",
    [
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "invalid_auth",
        "token_revoked",
        "invalid_blocks",
        "msg_too_long",
    ],
)
async def test_bot_permanent_errors_are_dead_with_slacks_code(
    chat_server: FakeChatServer, channel_context: ChannelContext, code: str
) -> None:
    chat_server.on(POST_MESSAGE, Reply.api_error(code))

    result = await build_channel("bot", bot_config(chat_server), channel_context).send(MESSAGE)

    assert (result.outcome, result.reason) == (Outcome.DEAD, code)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("internal_error", "server_error"),
        ("fatal_error", "server_error"),
        ("service_unavailable", "server_error"),
        ("request_timeout", "timeout"),
    ],
)
async def test_bot_transient_errors_are_retried(
    chat_server: FakeChatServer, channel_context: ChannelContext, code: str, reason: str
) -> None:
    chat_server.on(POST_MESSAGE, Reply.api_error(code))

    result = await build_channel("bot", bot_config(chat_server), channel_context).send(MESSAGE)

    assert (result.outcome, result.reason) == (Outcome.RETRY, reason)


@pytest.mark.parametrize(("retry_after", "expected"), [(5, 5.0), (None, 1.0)])
async def test_bot_ratelimited_in_the_body_reads_retry_after(
    chat_server: FakeChatServer, channel_context: ChannelContext, retry_after: int | None, expected: float
) -> None:
    chat_server.on(POST_MESSAGE, Reply.api_error("ratelimited", retry_after=retry_after))

    result = await build_channel("bot", bot_config(chat_server), channel_context).send(MESSAGE)

    assert (result.outcome, result.reason, result.retry_after) == (Outcome.RETRY, "rate_limited", expected)


async def test_bot_with_a_rejected_token_is_dead(chat_server: FakeChatServer, channel_context: ChannelContext) -> None:
    user_token = "xoxp-3333-4444-UserT0kenS3cret"
    channel = build_channel("bot", bot_config(chat_server, token=user_token), channel_context)

    result = await channel.send(MESSAGE)

    assert (result.outcome, result.reason) == (Outcome.DEAD, "invalid_auth")
    assert_no_secret(result.detail, (user_token,))


async def test_bot_answer_that_is_not_json_is_not_delivered(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    chat_server.on(POST_MESSAGE, Reply(200, "{truncated", {"Content-Type": "application/json"}))

    result = await build_channel("bot", bot_config(chat_server), channel_context).send(MESSAGE)

    assert (result.outcome, result.reason) == (Outcome.DEAD, "unexpected_response")
    assert "{truncated" in result.detail
