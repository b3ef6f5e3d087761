"""The registry: every channel type is found by its config, built, and told apart by `type`."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import TypeAdapter, ValidationError

from notifier.channels import CHANNEL_TYPES, AnyChannelConfig, build_channel, channel_format
from notifier.channels.base import ChannelConfig, ChannelContext, ChannelType
from notifier.channels.console import ConsoleChannel, ConsoleConfig
from notifier.channels.slack import SlackBotChannel, SlackConfig, SlackWebhookChannel
from notifier.channels.teams import TeamsChannel, TeamsConfig
from notifier.render import RENDERERS

ADAPTER: TypeAdapter[ChannelConfig] = TypeAdapter(AnyChannelConfig)
EXAMPLES = (
    ({"type": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/X"}, SlackWebhookChannel, "slack"),
    ({"type": "slack", "token": "xoxb-1-2-3", "channel": "C0123"}, SlackBotChannel, "slack"),
    ({"type": "teams", "webhook_url": "https://x.logic.azure.com/workflows/1?sig=abc"}, TeamsChannel, "teams"),
    ({"type": "console"}, ConsoleChannel, "text"),
)


def test_every_type_is_registered_once_and_the_registry_is_read_only() -> None:
    assert dict(CHANNEL_TYPES) == {
        "slack": CHANNEL_TYPES["slack"],
        "teams": CHANNEL_TYPES["teams"],
        "console": CHANNEL_TYPES["console"],
    }
    assert [t.config for t in CHANNEL_TYPES.values()] == [SlackConfig, TeamsConfig, ConsoleConfig]
    with pytest.raises(TypeError):
        CHANNEL_TYPES["discord"] = CHANNEL_TYPES["slack"]  # type: ignore[index]


@pytest.mark.parametrize(("raw", "channel_class", "renderer"), EXAMPLES)
def test_type_picks_the_model_and_the_model_builds_its_channel(
    raw: dict[str, object], channel_class: type, renderer: str, channel_context: ChannelContext
) -> None:
    config = ADAPTER.validate_python(raw)

    channel = build_channel("under-test", config, channel_context)

    assert isinstance(config, CHANNEL_TYPES[str(raw["type"])].config)
    assert isinstance(channel, channel_class)
    assert (channel.name, channel.format, channel_format(config)) == ("under-test", renderer, renderer)


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ({"type": "discord"}, "'slack', 'teams', 'console'"),
        ({"stream": "stdout"}, "Unable to extract tag using discriminator 'type'"),
    ],
)
def test_an_unknown_or_missing_type_names_the_known_ones(raw: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        ADAPTER.validate_python(raw)


class UnregisteredConfig(ChannelConfig):
    type: Literal["pager"]


def test_an_unregistered_config_is_a_type_error(channel_context: ChannelContext) -> None:
    config = UnregisteredConfig(type="pager")
    with pytest.raises(TypeError, match="UnregisteredConfig"):
        build_channel("pager", config, channel_context)
    with pytest.raises(TypeError, match="UnregisteredConfig"):
        channel_format(config)


def test_registered_types_are_channel_types() -> None:
    assert all(isinstance(t, ChannelType) and t.format_of is not None for t in CHANNEL_TYPES.values())


@pytest.mark.parametrize(
    "raw",
    [
        *(raw for raw, _, _ in EXAMPLES),
        {"type": "teams", "webhook_url": "https://x.logic.azure.com/workflows/1?sig=abc", "format": "messagecard"},
    ],
)
def test_every_format_a_channel_asks_for_has_a_renderer(raw: dict[str, object]) -> None:
    # So render() raising UnknownFormat can only be a bug, never a configuration.
    assert channel_format(ADAPTER.validate_python(raw)) in RENDERERS
