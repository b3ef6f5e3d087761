"""Configuration: read once at start-up from the environment and an optional YAML file, into typed objects.

Precedence: command-line flag, then environment variable, then the YAML file's `settings:`, then the default.
Every error names where the bad value came from and how to fix it, and stops start-up.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import TypeAdapter, ValidationError

from notifier.channels import CHANNEL_TYPES, CHANNEL_VARIABLES, AnyChannelConfig, env_channels
from notifier.channels.base import ChannelConfig, EnvChannel, EnvChannelError
from notifier.config.errors import describe
from notifier.config.routes import FileConfig, RouteConfig
from notifier.config.settings import ENV_SETTINGS, Settings
from notifier.config.variables import unknown_variable_warnings
from notifier.config.warnings import subscription_warnings
from notifier.config.yaml_marks import YamlDocument
from notifier.keptn.match import Match
from notifier.suggest import did_you_mean

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# The YAML config file, when there is one (or --config).
CONFIG_VARIABLE = "NOTIFIER_CONFIG"


class ConfigError(Exception):
    """Stops start-up; the text names the file or variable, the place, and the fix."""


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
    path = path or env.get(CONFIG_VARIABLE) or None
    file_config, document, referenced = (
        _read_file(Path(path), env) if path else (FileConfig(), YamlDocument(None), frozenset[str]())
    )
    origin = str(path) if path else "environment"

    raw_settings: dict[str, Any] = dict(file_config.settings)
    source_of: dict[str, str] = {
        key: f"{_at(origin, document, ('settings', key))}: settings.{key}" for key in raw_settings
    }
    for variable, key in ENV_SETTINGS.items():
        if env.get(variable, "").strip():
            raw_settings[key] = env[variable]
            source_of[key] = f"environment variable {variable}"
    for key, value in (overrides or {}).items():
        if value is not None:
            raw_settings[key] = value
            source_of[key] = f"--{key.replace('_', '-')}"
    try:
        settings = Settings(**raw_settings)
    except ValidationError as exc:
        raise ConfigError(
            _explain(exc, Settings, lambda loc: source_of.get(str(loc[0]), f"settings.{loc[0]}"))
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
    _check_routes(routes, channels, lambda loc: _at(origin, document, loc))
    warnings = (
        *unknown_variable_warnings(env, KNOWN_VARIABLES, referenced),
        *_warnings(channels),
        *subscription_warnings(settings.pubsub_topic, [(route.name, route.match.types) for route in routes]),
    )
    return Config(settings=settings, channels=channels, routes=routes, origin=origin, warnings=warnings)


def config_file(path: str | Path | None, env: Mapping[str, str]) -> Path | None:
    """The file `load_config` reads: the one given (--config), else NOTIFIER_CONFIG's, else none (the environment)."""
    chosen = path or env.get(CONFIG_VARIABLE) or None
    return Path(chosen) if chosen else None


def _read_file(path: Path, env: Mapping[str, str]) -> tuple[FileConfig, YamlDocument, frozenset[str]]:
    """The file's config, its YAML with line marks, and the variables its `${...}` name."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the config file {path}: {exc.strerror}; check --config / NOTIFIER_CONFIG"
        ) from None
    try:
        document = YamlDocument.parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: invalid YAML ({problem}); fix the syntax") from None
    data = {} if document.data is None else document.data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with 'channels' and 'routes'")
    referenced = frozenset(_referenced(data))
    data = _expand_env(data, env, path, (), document)
    try:
        return FileConfig.model_validate(data), document, referenced
    except ValidationError as exc:
        raise ConfigError(
            _explain(exc, FileConfig, lambda loc: f"{_at(path, document, _untagged(loc))}: " + _place(_untagged(loc)))
        ) from None


def _at(origin: str | Path, document: YamlDocument, loc: tuple[str | int, ...]) -> str:
    """`notifier.yaml, line 7`: the file and the line of the key at `loc` (just the origin without a file)."""
    line = document.line(loc)
    return f"{origin}, line {line}" if line is not None else str(origin)


def _expand_env(
    value: Any, env: Mapping[str, str], path: Path, place: tuple[str | int, ...], document: YamlDocument
) -> Any:
    if isinstance(value, dict):
        return {key: _expand_env(item, env, path, (*place, key), document) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand_env(item, env, path, (*place, index), document) for index, item in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{_at(path, document, place)}: {_place(place)}: environment variable {name} is not set; "
            f"export it (in Kubernetes, from a Secret) or write ${{{name}:-default}}"
        )

    return _ENV_REF.sub(substitute, value)


def _referenced(value: Any) -> Iterator[str]:
    """The variables a `${NAME}` or `${NAME:-default}` in the file names."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _referenced(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced(item)
    elif isinstance(value, str):
        yield from (match.group(1) for match in _ENV_REF.finditer(value))


def _place(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


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
