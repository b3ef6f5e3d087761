"""The registry: every channel type is found by its config, built, and told apart by `type`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

import pytest
from pydantic import TypeAdapter, ValidationError

from notifier.channels import (
    CHANNEL_TYPES,
    CHANNEL_VARIABLES,
    AnyChannelConfig,
    build_channel,
    channel_format,
    env_channels,
)
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


class ReadsRecorded(Mapping[str, str]):
    """An environment that remembers every variable asked for, set or not."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        self.asked.add(str(name))
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("a channel type asks for its variables by name; it does not list the environment")

    def __len__(self) -> int:
        return len(self._values)


# A value for each variable a channel type might read: every branch of its from_env is taken.
PLAUSIBLE = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X",
    "SLACK_BOT_TOKEN": "xoxb-1-2-3",
    "SLACK_CHANNEL": "#keptn",
    "SLACK_API_URL": "http://127.0.0.1:9/api/",
    "TEAMS_WEBHOOK_URL": "https://x.logic.azure.com/workflows/1?sig=abc",
}


@pytest.mark.parametrize("name", list(CHANNEL_TYPES))
def test_a_channel_type_declares_exactly_the_variables_it_reads(name: str) -> None:
    channel_type = CHANNEL_TYPES[name]
    env = ReadsRecorded(PLAUSIBLE)

    list(channel_type.from_env(env))

    assert env.asked == set(channel_type.env_variables), "env_variables must list what from_env reads"
    assert set(CHANNEL_VARIABLES) == set(PLAUSIBLE)


def test_a_channel_type_is_handed_only_the_variables_it_declares() -> None:
    # The console makes its channel whatever the environment holds; Slack sees only its own four.
    slack_like = ReadsRecorded({"SLACK_WEBHOOK_URL": PLAUSIBLE["SLACK_WEBHOOK_URL"], "SLACK_WEBHOOK": "x"})
    made = [channel.name for channel in env_channels(slack_like)]
    assert made == ["slack-webhook"]
    assert slack_like.asked == set(CHANNEL_VARIABLES)
