"""The YAML config file's shape: channels, and routes with their match, noise control, mentions, threading and
broadcast, and settings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifier.channels import AnyChannelConfig
from notifier.keptn.match import Match
from notifier.noise.rules import NoiseRules
from notifier.render.mentions import MentionRules
from notifier.units import comma_list


class RouteConfig(NoiseRules):
    """A route; its noise-control keys (`repeat_interval`, `digest`, `quiet_hours`) come from NoiseRules."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    name: str = Field(min_length=1)
    match: Match = Field(
        default=Match(), examples=[{"types": ["sh.keptn.event.evaluation.finished"], "stages": ["production"]}]
    )
    channels: list[str] = Field(min_length=1, examples=[["prod-slack", "teams"]])
    template: str | None = None
    mentions: MentionRules = ()
    # `sequence`: in a channel that can thread, a Keptn run's notifications go into the thread of its run message.
    threading: Literal["sequence", "off"] = "sequence"
    # Thread replies also shown in the channel: None is the default (failures, approvals waiting for a human).
    broadcast: Match | Literal["off"] | None = None

    @field_validator("channels", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return comma_list(value)

    @field_validator("threading", "broadcast", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        # YAML reads a bare `off` as false.
        return "off" if value is False or (isinstance(value, str) and value.strip().lower() == "off") else value


class FileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    channels: dict[str, AnyChannelConfig] = Field(default={}, examples=[{"log": {"type": "console"}}])
    routes: list[RouteConfig] = Field(default=[], examples=[[{"name": "all", "channels": ["log"]}]])
    settings: dict[str, Any] = Field(default={}, examples=[{"dedup_window": "1h"}])
