"""The channel registry: the one place that knows every channel type."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated

from pydantic import Field

from notifier.channels.base import Channel, ChannelConfig, ChannelContext, ChannelType
from notifier.channels.console import ConsoleConfig, build_console, console_format
from notifier.channels.slack import SlackConfig, build_slack, slack_format
from notifier.channels.teams import TeamsConfig, build_teams, teams_format

CHANNEL_TYPES: Mapping[str, ChannelType] = MappingProxyType(
    {
        "slack": ChannelType(config=SlackConfig, build=build_slack, format_of=slack_format),
        "teams": ChannelType(config=TeamsConfig, build=build_teams, format_of=teams_format),
        "console": ChannelType(config=ConsoleConfig, build=build_console, format_of=console_format),
    }
)

# What the config loader validates a channel entry against; `type` picks the model.
AnyChannelConfig = Annotated[SlackConfig | TeamsConfig | ConsoleConfig, Field(discriminator="type")]


def channel_type_of(config: ChannelConfig) -> ChannelType:
    for channel_type in CHANNEL_TYPES.values():
        if type(config) is channel_type.config:
            return channel_type
    raise TypeError(f"no registered channel type takes a {type(config).__name__}")


def build_channel(name: str, config: ChannelConfig, context: ChannelContext) -> Channel:
    return channel_type_of(config).build(name, config, context)


def channel_format(config: ChannelConfig) -> str:
    """The renderer (`slack`, `teams`, `messagecard`, `text`) whose payload this channel sends."""
    format_of = channel_type_of(config).format_of
    if format_of is None:
        raise TypeError(f"{type(config).__name__} does not say which renderer it needs")
    return format_of(config)
