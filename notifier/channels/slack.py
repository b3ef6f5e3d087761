"""Slack: an incoming webhook, posted straight through the shared session, or a bot token posting with
chat.postMessage (and replying in threads and editing with chat.update) through slack-sdk's Web API client."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal

import aiohttp
import orjson
from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from yarl import URL

from notifier.channels.base import (
    Channel,
    ChannelConfig,
    ChannelContext,
    EnvChannel,
    EnvChannelError,
    Outcome,
    SendResult,
    check_outbound_url,
    unsupported_follow_up,
)
from notifier.channels.http_errors import classify_exception, classify_response, platform_code
from notifier.channels.http_post import post_json
from notifier.message import MessageRef, Payload
from notifier.redact import Redactor, url_secrets

# The only message fields passed on: never `link_names` or `parse`, which turn event text into mentions.
# `reply_broadcast` (a thread reply also shown in the channel) is only ever set by the run threads.
MESSAGE_FIELDS = ("text", "blocks", "attachments", "unfurl_links", "unfurl_media", "reply_broadcast")
# What chat.update takes of them: an edit keeps the message's unfurl settings. Slack keeps the blocks or the
# attachments an update does not name, so an edit names both, empty when the new payload has none: otherwise a
# message posted with its body in the blocks (before the colour bar) would keep that body beside the new one.
UPDATE_FIELDS = ("text", "blocks", "attachments")
# What slack_from_env reads (the registry hands it these variables only).
SLACK_VARIABLES: Final = ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL", "SLACK_API_URL")
REPLACED_FIELDS = ("blocks", "attachments")
# What Slack answers for a message a person deleted, or one this token did not post: it is gone for replies
# and edits (SendResult.gone), and whoever threads under it starts a new one.
GONE = frozenset({"message_not_found", "thread_not_found", "cant_update_message"})
# The parts of a Web API answer worth keeping in a result's detail, for people; the result's ref has them too.
_ANSWER_FIELDS = frozenset({"ok", "error", "channel", "ts", "warning"})


class SlackConfig(ChannelConfig):
    # Pydantic would otherwise quote a rejected webhook URL or token in the error text.
    model_config = ConfigDict(hide_input_in_errors=True)

    type: Literal["slack"]
    webhook_url: str | None = Field(default=None, repr=False, description="incoming webhook URL")
    token: str | None = Field(default=None, repr=False, description="bot token (xoxb-...) with chat:write")
    channel: str | None = Field(default=None, description="channel ID or #name for the bot token")
    api_url: str = Field(default="https://slack.com/api/", description="Slack Web API base URL")

    @field_validator("webhook_url", "api_url")
    @classmethod
    def _outbound_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        return check_outbound_url(value, bool(info.data.get("allow_insecure", False)))

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("xox") or any(c.isspace() for c in value)):
            raise ValueError("must be a Slack token such as xoxb-..., without spaces")
        return value

    @model_validator(mode="after")
    def _one_mode(self) -> SlackConfig:
        if (self.webhook_url is None) == (self.token is None):
            raise ValueError("set exactly one of webhook_url (incoming webhook) or token (bot token)")
        if self.token is not None and not self.channel:
            raise ValueError("a bot token needs `channel` (a channel ID such as C0123456789, or #name)")
        if self.webhook_url is not None and self.channel:
            raise ValueError("`channel` applies only to a bot token: a webhook posts where it was created")
        return self

    @classmethod
    def default_rate_limit(cls) -> dict[str, float] | None:
        # Slack allows about one message a second per channel, with short bursts.
        return {"per_second": 1.0, "burst": 3}

    def can_thread(self) -> bool:
        return self.token is not None

    def secrets(self) -> list[str]:
        found = url_secrets(self.webhook_url) if self.webhook_url else []
        if self.token:
            found.append(self.token)
        return found

    def warnings(self) -> list[str]:
        if self.rate_limit is None:
            return ["rate_limit is off; Slack may disable an app that ignores its limits"]
        return []


def slack_format(config: SlackConfig) -> str:
    return "slack"


def slack_from_env(env: Mapping[str, str]) -> Iterator[EnvChannel]:
    """SLACK_WEBHOOK_URL makes `slack-webhook`; SLACK_BOT_TOKEN with SLACK_CHANNEL (and SLACK_API_URL) `slack-bot`."""
    webhook_url = env.get("SLACK_WEBHOOK_URL", "").strip()
    if webhook_url:
        yield EnvChannel("slack-webhook", "SLACK_WEBHOOK_URL", {"type": "slack", "webhook_url": webhook_url})
    token = env.get("SLACK_BOT_TOKEN", "").strip()
    if token:
        channel = env.get("SLACK_CHANNEL", "").strip()
        if not channel:
            raise EnvChannelError(
                "SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not: set the channel to post to, e.g. #keptn"
            )
        raw: dict[str, Any] = {"type": "slack", "token": token, "channel": channel}
        api_url = env.get("SLACK_API_URL", "").strip()
        if api_url:
            raw["api_url"] = api_url
        yield EnvChannel("slack-bot", "SLACK_BOT_TOKEN/SLACK_CHANNEL/SLACK_API_URL", raw)


def build_slack(name: str, config: SlackConfig, context: ChannelContext) -> Channel:
    if config.webhook_url is not None:
        return SlackWebhookChannel(name, config, context)
    return SlackBotChannel(name, config, context)


class SlackWebhookChannel:
    """A webhook post is one JSON body and an `ok` answer: no client library, one orjson serialisation."""

    # A webhook's answer is `ok`, no message ts: nothing to reply under or edit later.
    format = "slack"

    def __init__(self, name: str, config: SlackConfig, context: ChannelContext) -> None:
        assert config.webhook_url is not None
        self.name = name
        self._url = URL(config.webhook_url)
        self._timeout = config.timeout
        self._session = context.session
        self._redactor = Redactor(config.secrets())

    async def send(
        self, payload: Payload, *, reply_to: MessageRef | None = None, replace: MessageRef | None = None
    ) -> SendResult:
        if refused := unsupported_follow_up(reply_to, replace):
            return refused
        body = orjson.dumps(_message_fields(payload))
        try:
            # Redirects are followed, as slack-sdk did; aiohttp gives up on a loop (TooManyRedirects).
            async with asyncio.timeout(self._timeout):
                answer = await post_json(self._session, self._url, body, allow_redirects=True)
        except Exception as exc:
            return classify_exception(exc, self._redactor, timeout=self._timeout)
        status = answer.status
        return classify_response(
            status,
            answer.body,
            answer.headers,
            self._redactor,
            delivered=200 <= status < 300 and answer.body.strip() == "ok",
            # Slack answers a webhook failure with its code as the whole body; a redirect's body is no code.
            code=platform_code(answer.body) if not 300 <= status < 400 else None,
        )


class SlackBotChannel:
    format = "slack"

    def __init__(self, name: str, config: SlackConfig, context: ChannelContext) -> None:
        assert config.token is not None and config.channel is not None
        self.name = name
        self._channel = config.channel
        self._timeout = config.timeout
        self._redactor = Redactor(config.secrets())
        self._client = AsyncWebClient(
            token=config.token,
            base_url=config.api_url,
            timeout=math.ceil(config.timeout),
            session=context.session,
            logger=_sdk_logger(name, self._redactor),
            retry_handlers=[],
        )
        self._client.proxy = None

    async def send(
        self, payload: Payload, *, reply_to: MessageRef | None = None, replace: MessageRef | None = None
    ) -> SendResult:
        fields = _message_fields(payload)
        try:
            async with asyncio.timeout(self._timeout):
                if replace is not None:
                    # chat.update needs the channel ID the first post answered, not a #name.
                    edit = {key: value for key, value in fields.items() if key in UPDATE_FIELDS}
                    edit.update({key: [] for key in REPLACED_FIELDS if key not in edit})
                    response = await self._client.chat_update(channel=replace.conversation, ts=replace.id, **edit)
                elif reply_to is not None:
                    response = await self._client.chat_postMessage(
                        channel=reply_to.conversation, thread_ts=reply_to.id, **fields
                    )
                else:
                    response = await self._client.chat_postMessage(channel=self._channel, **fields)
        except SlackApiError as exc:
            # Raised for every answer but 200 + ok:true: the answer itself travels in the exception.
            return self._classify(exc.response, str(exc).partition("\n")[0])
        except Exception as exc:
            return classify_exception(exc, self._redactor, timeout=self._timeout)
        return self._classify(response, "")

    def _classify(self, response: object, error_text: str) -> SendResult:
        data: object
        headers: object
        if isinstance(response, AsyncSlackResponse):
            status, data, headers = response.status_code, response.data, response.headers
        elif isinstance(response, aiohttp.ClientResponse):
            # slack-sdk hands over the raw response when the body was not JSON; its message quotes the body.
            status, data, headers = response.status, error_text, response.headers
        else:
            return SendResult.retry("unexpected_error", self._redactor(error_text))
        ok = isinstance(data, Mapping) and data.get("ok") is True
        code = data.get("error") if isinstance(data, Mapping) else None
        if isinstance(data, Mapping) and data:
            body = orjson.dumps({k: v for k, v in data.items() if k in _ANSWER_FIELDS}).decode()
        elif isinstance(data, bytes | str):
            body = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        else:
            body = ""
        result = classify_response(
            status,
            body,
            _headers(headers),
            self._redactor,
            delivered=status == 200 and ok,
            code=code if isinstance(code, str) else None,
        )
        if result.outcome is Outcome.SENT and isinstance(data, Mapping):
            channel, ts = data.get("channel"), data.get("ts")
            if isinstance(channel, str) and isinstance(ts, str):
                return dataclasses.replace(result, ref=MessageRef(channel, ts))
        if result.outcome is Outcome.DEAD and code in GONE:
            return dataclasses.replace(result, gone=True)
        return result


def _message_fields(payload: Payload) -> dict[str, Any]:
    if isinstance(payload, str):
        return {"text": payload}
    return {key: payload[key] for key in MESSAGE_FIELDS if key in payload}


def _headers(headers: object) -> Mapping[str, str]:
    # aiohttp's CIMultiDictProxy keeps lookups case-insensitive; anything else becomes an empty mapping.
    return headers if isinstance(headers, Mapping) else {}


class _RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor(record.getMessage())
        record.args = None
        return True


def _sdk_logger(name: str, redactor: Redactor) -> logging.Logger:
    """A logger for slack-sdk that cannot leak: it logs the webhook URL at DEBUG when its level is unset.

    A private Logger (not from getLogger, so no filters pile up on a shared one) at INFO skips those
    messages; anything it does log is redacted, then propagates to this module's logger.
    """
    logger = logging.Logger(f"{__name__}.sdk.{name}", logging.INFO)
    logger.parent = logging.getLogger(__name__)
    logger.addFilter(_RedactingFilter(redactor))
    return logger
