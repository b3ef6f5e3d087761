"""What every channel type provides: a config model, a one-method sender, and a classified result."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from notifier.message import MessageRef, Payload


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the platform answered, classified. `reason` is short and becomes a metric label."""

    outcome: Outcome
    reason: str
    retry_after: float | None = None
    # The platform's answer in words, for logs and `dead list`; channels pass it through the redactor.
    detail: str = ""
    # What the platform created, when it says (a Slack bot message): a later send can reply under it or replace it.
    ref: MessageRef | None = None
    # The message replied under or replaced is gone (deleted, or not this sender's to edit): start a new one.
    gone: bool = False

    @classmethod
    def sent(cls, detail: str = "", ref: MessageRef | None = None) -> SendResult:
        return cls(Outcome.SENT, "ok", None, detail, ref)

    @classmethod
    def retry(cls, reason: str, detail: str = "", retry_after: float | None = None) -> SendResult:
        return cls(Outcome.RETRY, reason, retry_after, detail)

    @classmethod
    def dead(cls, reason: str, detail: str = "") -> SendResult:
        return cls(Outcome.DEAD, reason, None, detail)


class Channel(Protocol):
    name: str
    # Which renderer produces this channel's payload: "slack", "teams", "teams-card", "messagecard" or "text".
    format: str

    async def send(
        self, payload: Payload, *, reply_to: MessageRef | None = None, replace: MessageRef | None = None
    ) -> SendResult:
        """Post one rendered message: a new one, a reply under `reply_to`, or in place of `replace` (which
        needs no `reply_to`, even for a reply). Never raises for platform or network failures: classify them.
        A channel whose config cannot thread (`ChannelConfig.can_thread`) answers dead, `unsupported`, when asked
        for either."""
        ...


def unsupported_follow_up(reply_to: MessageRef | None, replace: MessageRef | None) -> SendResult | None:
    """The answer of a channel that can only post new messages, when asked to reply or replace; else None."""
    if reply_to is None and replace is None:
        return None
    return SendResult.dead(
        "unsupported", "this channel can only post new messages (threads and edits need a Slack bot token)"
    )


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_second: float = Field(gt=0, description="sustained messages a second")
    burst: int = Field(default=1, ge=1, description="messages that may go at once after a quiet spell")


class ChannelConfig(BaseModel):
    """Settings every channel type shares. Subclasses set `type` to a Literal and add their own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # None means "off": no pacing (a local sink, the console).
    rate_limit: RateLimit | None = Field(default=None, examples=["off", {"per_second": 1, "burst": 3}])
    timeout: float = Field(default=10.0, gt=0, le=120, description="seconds for one request to the platform")
    allow_insecure: bool = False

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _rate_limit_off(cls, value: object) -> object:
        if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
            return None
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_rate_limit(cls, values: object) -> object:
        if isinstance(values, dict) and "rate_limit" not in values:
            default = cls.default_rate_limit()
            if default is not None:
                values = {**values, "rate_limit": default}
        return values

    @classmethod
    def default_rate_limit(cls) -> dict[str, float] | None:
        return None

    def can_thread(self) -> bool:
        """Whether the channel built from this config can reply under a message and edit one: the one place that
        says so (routing marks its notifications threaded, the service gives it run threads)."""
        return False

    def secrets(self) -> list[str]:
        """Strings that must never appear in logs, metrics, CLI output or errors."""
        return []

    def warnings(self) -> list[str]:
        """Why this channel may not deliver as meant, for start-up log lines (`check` shows them too)."""
        return []


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What the service lends to channels: one shared HTTP session, and where the console writes."""

    session: aiohttp.ClientSession
    stdout: IO[str]


@dataclass(frozen=True, slots=True)
class EnvChannel:
    """A channel asked for by environment variables alone (no config file), before validation."""

    name: str
    # The variables it came from, for the error message when its config is invalid.
    variables: str
    raw: Mapping[str, Any]


class EnvChannelError(ValueError):
    """The environment asks for a channel but lacks a variable it needs; the text names both and the fix."""


@dataclass(frozen=True, slots=True)
class ChannelType:
    config: type[ChannelConfig]
    build: Callable[[str, Any, ChannelContext], Channel]
    # The channels this type makes from its environment variables (docs/configuration.md, "Variables that are
    # not settings"); raises EnvChannelError when a variable it needs is missing.
    from_env: Callable[[Mapping[str, str]], Iterator[EnvChannel]]
    # The renderer a config's payload needs, known without building the channel (`render`, `test`).
    format_of: Callable[[Any], str] | None = None
    # Asked only when no other type made a channel from the environment: where messages go by default.
    env_fallback: bool = False
    # Every variable `from_env` reads: it is handed these and no others, so the list cannot fall behind, and the
    # start-up warning about misspelt variables knows them.
    env_variables: tuple[str, ...] = ()


class InsecureUrlError(ValueError):
    """A plain-http URL to a host that is not this machine; how to allow it depends on where the URL came from."""


def check_outbound_url(url: str, allow_insecure: bool) -> str:
    """Validate a webhook/API URL from the config: https, or http only to loopback or when allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL such as https://hooks.slack.com/services/...")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ValueError("has an invalid port: give a number from 1 to 65535, or none") from None
    if parts.scheme == "http" and not allow_insecure and not _is_loopback(parts.hostname):
        # The config loader adds the fix: `allow_insecure: true` in a YAML file; environment variables cannot.
        raise InsecureUrlError("must use https (plain http is allowed only to loopback addresses)")
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
