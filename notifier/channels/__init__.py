"""The channel registry: the one place that knows every channel type."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated

from pydantic import Field

from notifier.channels.base import Channel, ChannelConfig, ChannelContext, ChannelType
from notifier.channels.console import ConsoleConfig, build_console
from notifier.channels.slack import SlackConfig, build_slack
from notifier.channels.teams import TeamsConfig, build_teams

CHANNEL_TYPES: Mapping[str, ChannelType] = MappingProxyType(
    {
        "slack": ChannelType(config=SlackConfig, build=build_slack),
        "teams": ChannelType(config=TeamsConfig, build=build_teams),
        "console": ChannelType(config=ConsoleConfig, build=build_console),
    }
)

# What the config loader validates a channel entry against; `type` picks the model.
AnyChannelConfig = Annotated[SlackConfig | TeamsConfig | ConsoleConfig, Field(discriminator="type")]


def build_channel(name: str, config: ChannelConfig, context: ChannelContext) -> Channel:
    for channel_type in CHANNEL_TYPES.values():
        if type(config) is channel_type.config:
            return channel_type.build(name, config, context)
    raise TypeError(f"channel {name!r}: no channel type takes a {type(config).__name__}")
