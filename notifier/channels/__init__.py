"""The channel registry: the one place that knows every channel type."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Annotated

from pydantic import Field

from notifier.channels.base import Channel, ChannelConfig, ChannelContext, ChannelType, EnvChannel
from notifier.channels.console import ConsoleConfig, build_console, console_format, console_from_env
from notifier.channels.slack import SLACK_VARIABLES, SlackConfig, build_slack, slack_format, slack_from_env
from notifier.channels.teams import TEAMS_VARIABLES, TeamsConfig, build_teams, teams_format, teams_from_env

CHANNEL_TYPES: Mapping[str, ChannelType] = MappingProxyType(
    {
        "slack": ChannelType(
            config=SlackConfig,
            build=build_slack,
            format_of=slack_format,
            from_env=slack_from_env,
            env_variables=SLACK_VARIABLES,
        ),
        "teams": ChannelType(
            config=TeamsConfig,
            build=build_teams,
            format_of=teams_format,
            from_env=teams_from_env,
            env_variables=TEAMS_VARIABLES,
        ),
        "console": ChannelType(
            config=ConsoleConfig,
            build=build_console,
            format_of=console_format,
            from_env=console_from_env,
            env_fallback=True,
        ),
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
    """The renderer (`slack`, `teams`, `teams-card`, `messagecard`, `text`) whose payload this channel sends."""
    format_of = channel_type_of(config).format_of
    if format_of is None:
        raise TypeError(f"{type(config).__name__} does not say which renderer it needs")
    return format_of(config)


# Every variable a channel type reads, in registry order.
CHANNEL_VARIABLES: tuple[str, ...] = tuple(
    variable for channel_type in CHANNEL_TYPES.values() for variable in channel_type.env_variables
)


def env_channels(env: Mapping[str, str]) -> Iterator[EnvChannel]:
    """The channels the environment alone asks for, in registry order; the fallback type's when there are none."""
    made = 0
    for channel_type in CHANNEL_TYPES.values():
        if not channel_type.env_fallback:
            for channel in channel_type.from_env(_declared(channel_type, env)):
                made += 1
                yield channel
    if not made:
        for channel_type in CHANNEL_TYPES.values():
            if channel_type.env_fallback:
                yield from channel_type.from_env(_declared(channel_type, env))


def _declared(channel_type: ChannelType, env: Mapping[str, str]) -> Mapping[str, str]:
    """The part of the environment a channel type has declared: it sees no variable it has not named."""
    return {name: env[name] for name in channel_type.env_variables if name in env}
