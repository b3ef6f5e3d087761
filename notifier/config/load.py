"""Configuration: read once at start-up from the environment and an optional YAML file, into typed objects.

Precedence: command-line flag, then environment variable, then the YAML file's `settings:`, then the default.
Every error names where the bad value came from and how to fix it, and stops start-up.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

from notifier.channels import CHANNEL_TYPES, CHANNEL_VARIABLES, AnyChannelConfig, env_channels
from notifier.channels.base import ChannelConfig, EnvChannel, EnvChannelError
from notifier.config.errors import describe
from notifier.config.routes import FileConfig, RouteConfig
from notifier.config.settings import ENV_SETTINGS, Settings
from notifier.config.source import (
    CONFIG_VARIABLE,
    ConfigError,
    ConfigFile,
    at,
    config_file,
    place,
    raw_settings,
    read_file,
)
from notifier.config.variables import unknown_variable_warnings
from notifier.config.warnings import subscription_warnings
from notifier.config.yaml_marks import YamlDocument
from notifier.keptn.match import Match
from notifier.suggest import did_you_mean

# Every variable the service reads: the config file's, the settings' and each channel type's.
KNOWN_VARIABLES: frozenset[str] = frozenset({CONFIG_VARIABLE, *ENV_SETTINGS, *CHANNEL_VARIABLES})


@dataclass(frozen=True)
class Config:
    settings: Settings
    channels: Mapping[str, ChannelConfig]
    routes: tuple[RouteConfig, ...]
    # Where the channels and routes came from, for messages: a file path or "environment".
    origin: str = "environment"
    warnings: tuple[str, ...] = field(default=())

    def secrets(self) -> list[str]:
        found = [secret for channel in self.channels.values() for secret in channel.secrets()]
        tokens = (self.settings.ingest_token, self.settings.keptn_api_token, self.settings.admin_token)
        found.extend(token for token in tokens if token)
        # A NATS URL may carry credentials (nats://user:password@host, or a token as the user part).
        credentials = urlsplit(self.settings.nats_url)
        found.extend(part for part in (credentials.password, credentials.username) if part)
        return found


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Build the whole configuration; raises ConfigError with a message a user can act on."""
    env = os.environ if env is None else env
    path = config_file(path, env)
    file = read_file(path) if path else None
    file_config = _validated_file(file, env) if file else FileConfig()
    document = file.document if file else YamlDocument(None)
    origin = str(path) if path else "environment"
    raw = raw_settings(file_config.settings, origin, document, env, overrides)
    try:
        settings = Settings(**raw.values)
    except ValidationError as exc:
        raise ConfigError(
            _explain(exc, Settings, lambda loc: raw.source_of.get(str(loc[0]), f"settings.{loc[0]}"))
        ) from None

    if path:
        channels: dict[str, ChannelConfig] = dict(file_config.channels)
        routes = tuple(file_config.routes)
        if not channels:
            raise ConfigError(f"{origin}: 'channels' is empty: define at least one, e.g. log: {{type: console}}")
        if not routes:
            raise ConfigError(f"{origin}: 'routes' is empty: add a route whose channels list your channels")
    else:
        channels = _channels_from_env(env)
        # PUBSUB_TOPIC has already chosen the events: the one route takes all of them, Keptn's or not.
        routes = (RouteConfig(name="default", match=Match(types=[">"]), channels=list(channels)),)
    _check_routes(routes, channels, lambda loc: at(origin, document, loc))
    warnings = (
        *unknown_variable_warnings(env, KNOWN_VARIABLES, file.referenced() if file else frozenset()),
        *_warnings(channels),
        *subscription_warnings(settings.pubsub_topic, [(route.name, route.match.types) for route in routes]),
    )
    return Config(settings=settings, channels=channels, routes=routes, origin=origin, warnings=warnings)


def _validated_file(file: ConfigFile, env: Mapping[str, str]) -> FileConfig:
    try:
        return FileConfig.model_validate(file.expanded(env))
    except ValidationError as exc:
        raise ConfigError(_explain(exc, FileConfig, lambda loc: _where(file, _untagged(loc)))) from None


def _where(file: ConfigFile, loc: tuple[str | int, ...]) -> str:
    return f"{at(file.path, file.document, loc)}: {place(loc)}"


def _explain(
    exc: ValidationError, root: Any, where: Callable[[tuple[str | int, ...]], str], environment: bool = False
) -> str:
    """Each error as `where: what is wrong and the fix`; `root` is the type validated (for field names)."""
    types = list(CHANNEL_TYPES)
    lines = []
    for error in exc.errors():
        message = describe(error, root, environment)
        if error["type"] == "union_tag_invalid":
            message = f"unknown channel type: use one of {', '.join(types)}"
        elif error["type"] == "union_tag_not_found":
            message = f"each channel needs a 'type': {', '.join(types[:-1])} or {types[-1]}"
        lines.append(f"{where(error['loc'])}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _untagged(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """A channel's discriminated union puts its type after its name ("channels.x.slack.token"): drop it."""
    if loc[:1] == ("channels",) and len(loc) > 2 and loc[2] in CHANNEL_TYPES:
        return loc[:2] + loc[3:]
    return loc


def _channels_from_env(env: Mapping[str, str]) -> dict[str, ChannelConfig]:
    """The environment-only setup: the channels each channel type makes from its variables."""
    adapter: TypeAdapter[ChannelConfig] = TypeAdapter(AnyChannelConfig)
    try:
        return {wanted.name: _validated(adapter, wanted) for wanted in env_channels(env)}
    except EnvChannelError as exc:
        raise ConfigError(str(exc)) from None


def _validated(adapter: TypeAdapter[ChannelConfig], wanted: EnvChannel) -> ChannelConfig:
    try:
        return adapter.validate_python(dict(wanted.raw))
    except ValidationError as exc:
        raise ConfigError(
            _explain(exc, AnyChannelConfig, lambda loc: f"environment variable(s) {wanted.variables}", True)
        ) from None


def _check_routes(
    routes: tuple[RouteConfig, ...],
    channels: Mapping[str, ChannelConfig],
    where: Callable[[tuple[str | int, ...]], str],
) -> None:
    seen: set[str] = set()
    for index, route in enumerate(routes):
        if route.name in seen:
            raise ConfigError(
                f"{where(('routes', index, 'name'))}: routes[{index}]: the name {route.name!r} is used twice; "
                "names must be unique"
            )
        seen.add(route.name)
        for channel in route.channels:
            if channel not in channels:
                raise ConfigError(
                    f"{where(('routes', index, 'channels'))}: routes[{index}] ({route.name}).channels: "
                    f"unknown channel {channel!r}{did_you_mean(channel, channels) or ';'} "
                    f"defined channels: {', '.join(sorted(channels))}"
                )


def _warnings(channels: Mapping[str, ChannelConfig]) -> list[str]:
    return [f"channel {name}: {warning}" for name, channel in channels.items() for warning in channel.warnings()]
