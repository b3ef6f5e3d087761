"""Microsoft Teams: a Workflows (Power Automate) webhook taking Adaptive Cards, or a legacy connector."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Final, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import ConfigDict, Field, ValidationInfo, field_validator
from yarl import URL

from notifier.channels.base import (
    Channel,
    ChannelConfig,
    ChannelContext,
    EnvChannel,
    SendResult,
    check_outbound_url,
    unsupported_follow_up,
)
from notifier.channels.http_errors import classify_exception, classify_response
from notifier.channels.http_post import post_json
from notifier.message import MessageRef, Payload
from notifier.redact import Redactor, url_secrets

# What teams_from_env reads (the registry hands it this variable only).
TEAMS_VARIABLES: Final = ("TEAMS_WEBHOOK_URL",)
# `card` is the bare Adaptive Card, for flows built on "Post card in a chat or channel"; `adaptive` the
# `message`/`attachments` envelope that "Post to a channel when a webhook request is received" takes.
_RENDERERS: Mapping[str, str] = MappingProxyType(
    {"adaptive": "teams", "card": "teams-card", "messagecard": "messagecard"}
)


class TeamsConfig(ChannelConfig):
    # Pydantic would otherwise quote a rejected webhook URL (and its sig= credential) in the error text.
    model_config = ConfigDict(hide_input_in_errors=True)

    type: Literal["teams"]
    webhook_url: str = Field(repr=False, description="Workflows webhook URL (its sig= value is the credential)")
    format: Literal["adaptive", "card", "messagecard"] = Field(
        default="adaptive",
        description="adaptive (a Workflows message envelope), card (the bare Adaptive Card, for a flow that posts "
        "the card it gets) or messagecard (retired Office 365 connectors)",
    )

    @field_validator("webhook_url")
    @classmethod
    def _outbound_url(cls, value: str, info: ValidationInfo) -> str:
        return check_outbound_url(value, bool(info.data.get("allow_insecure", False)))

    @classmethod
    def default_rate_limit(cls) -> dict[str, float] | None:
        # Workflows throttles above about four requests a second.
        return {"per_second": 4.0, "burst": 2}

    def secrets(self) -> list[str]:
        return url_secrets(self.webhook_url)

    def warnings(self) -> list[str]:
        warning = legacy_warning(self)
        return [warning] if warning else []


def legacy_warning(config: TeamsConfig) -> str | None:
    """Why this channel will probably never deliver, for a start-up log line; None for a Workflows webhook."""
    host = (urlsplit(config.webhook_url).hostname or "").lower()
    connector_url = host == "webhook.office.com" or host.endswith((".webhook.office.com", "outlook.office.com"))
    if not connector_url and config.format != "messagecard":
        return None
    what = "an Office 365 connector webhook" if connector_url else "the MessageCard format"
    return (
        f"this Teams channel uses {what}: Microsoft switched Office 365 connectors off in May 2026, so "
        'messages will most likely be rejected. Create a Workflows webhook ("Post to a channel when a '
        'webhook request is received") and use it with format: adaptive.'
    )


def teams_format(config: TeamsConfig) -> str:
    """Adaptive Cards for Workflows ("teams", or "teams-card" without the envelope), or the retired MessageCard."""
    return _RENDERERS[config.format]


def teams_from_env(env: Mapping[str, str]) -> Iterator[EnvChannel]:
    """TEAMS_WEBHOOK_URL makes the channel `teams`."""
    webhook_url = env.get("TEAMS_WEBHOOK_URL", "").strip()
    if webhook_url:
        yield EnvChannel("teams", "TEAMS_WEBHOOK_URL", {"type": "teams", "webhook_url": webhook_url})


def build_teams(name: str, config: TeamsConfig, context: ChannelContext) -> Channel:
    return TeamsChannel(name, config, context)


class TeamsChannel:
    # Workflows webhooks post new cards only: no threads, no edits.

    def __init__(self, name: str, config: TeamsConfig, context: ChannelContext) -> None:
        self.name = name
        self.format = teams_format(config)
        # As pasted: yarl would otherwise decode the query's %2F, and the URL is signed by its sig=.
        self._url = URL(config.webhook_url, encoded=True)
        self._timeout = config.timeout
        self._session = context.session
        self._redactor = Redactor(config.secrets())

    async def send(
        self, payload: Payload, *, reply_to: MessageRef | None = None, replace: MessageRef | None = None
    ) -> SendResult:
        if refused := unsupported_follow_up(reply_to, replace):
            return refused
        # A str payload is JSON already serialised by the renderer.
        body = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
        try:
            # Never redirected: a message goes only where the config says.
            async with asyncio.timeout(self._timeout):
                answer = await post_json(self._session, self._url, body, allow_redirects=False)
        except Exception as exc:
            return classify_exception(exc, self._redactor, timeout=self._timeout)
        status = answer.status
        return classify_response(status, answer.body, answer.headers, self._redactor, delivered=200 <= status < 300)
