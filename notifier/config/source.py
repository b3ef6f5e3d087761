"""The configuration as read, before the channels and routes are validated: the YAML file with its line marks,
`${VAR}` expanded, and the settings from their three sources.

Kept apart from `load` so that reading the settings alone costs neither the channel types nor the HTTP client:
the image's HEALTHCHECK needs only where the service listens, and must not call a service unhealthy because a
live edit broke a route it has not taken (the service keeps its last good config).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from notifier.config.settings import ENV_SETTINGS, Settings
from notifier.config.yaml_marks import YamlDocument

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# The YAML config file, when there is one (or --config).
CONFIG_VARIABLE = "NOTIFIER_CONFIG"


class ConfigError(Exception):
    """Stops start-up; the text names the file or variable, the place, and the fix."""


@dataclass(frozen=True, slots=True)
class ConfigFile:
    path: Path
    # The top-level mapping as written: `${VAR}` not yet expanded.
    data: Mapping[str, Any]
    document: YamlDocument

    def expanded(self, env: Mapping[str, str], place: tuple[str | int, ...] = ()) -> Any:
        """The value at `place` (the whole file by default) with each `${VAR}` replaced from `env`."""
        value: Any = self.data
        for part in place:
            value = value.get(part) if isinstance(value, dict) else None
        return _expand_env(value, env, self.path, place, self.document)

    def referenced(self) -> frozenset[str]:
        """The variables a `${NAME}` or `${NAME:-default}` in the file names."""
        return frozenset(_referenced(self.data))


@dataclass(frozen=True, slots=True)
class RawSettings:
    values: Mapping[str, Any]
    # For each key given: where it came from, as an error names it ("environment variable NOTIFIER_PORT").
    source_of: Mapping[str, str]


def config_file(path: str | Path | None, env: Mapping[str, str]) -> Path | None:
    """The file `load_config` reads: the one given (--config), else NOTIFIER_CONFIG's, else none (the environment)."""
    chosen = path or env.get(CONFIG_VARIABLE) or None
    return Path(chosen) if chosen else None


def read_file(path: Path) -> ConfigFile:
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
    return ConfigFile(path, data, document)


def raw_settings(
    file_settings: Mapping[str, Any],
    origin: str,
    document: YamlDocument,
    env: Mapping[str, str],
    overrides: Mapping[str, object] | None = None,
) -> RawSettings:
    """Flag over variable over the file's `settings:` over the default (the default is Settings' own)."""
    values: dict[str, Any] = dict(file_settings)
    source_of = {key: f"{at(origin, document, ('settings', key))}: settings.{key}" for key in values}
    for variable, key in ENV_SETTINGS.items():
        if env.get(variable, "").strip():
            values[key] = env[variable]
            source_of[key] = f"environment variable {variable}"
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
            source_of[key] = f"--{key.replace('_', '-')}"
    return RawSettings(values, source_of)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings alone, as `load_config` finds them; raises ConfigError naming what is wrong."""
    env = os.environ if env is None else env
    path = config_file(None, env)
    if path is None:
        raw = raw_settings({}, "environment", YamlDocument(None), env)
    else:
        file = read_file(path)
        section = file.expanded(env, ("settings",))
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"{at(path, file.document, ('settings',))}: settings: must be a mapping of key: value")
        raw = raw_settings(section or {}, str(path), file.document, env)
    try:
        return Settings(**raw.values)
    except ValidationError as exc:
        problems = (f"{raw.source_of.get(str(error['loc'][0]), 'settings')}: {error['msg']}" for error in exc.errors())
        raise ConfigError("invalid settings: " + "; ".join(problems) + " (keptn-notifier check says more)") from None


def at(origin: str | Path, document: YamlDocument, loc: tuple[str | int, ...]) -> str:
    """`notifier.yaml, line 7`: the file and the line of the key at `loc` (just the origin without a file)."""
    line = document.line(loc)
    return f"{origin}, line {line}" if line is not None else str(origin)


def place(loc: tuple[str | int, ...]) -> str:
    """`routes[0].match`: a place in the file as a reader writes it."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _expand_env(
    value: Any, env: Mapping[str, str], path: Path, where: tuple[str | int, ...], document: YamlDocument
) -> Any:
    if isinstance(value, dict):
        return {key: _expand_env(item, env, path, (*where, key), document) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand_env(item, env, path, (*where, index), document) for index, item in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{at(path, document, where)}: {place(where)}: environment variable {name} is not set; "
            f"export it (in Kubernetes, from a Secret) or write ${{{name}:-default}}"
        )

    return _ENV_REF.sub(substitute, value)


def _referenced(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _referenced(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced(item)
    elif isinstance(value, str):
        yield from (match.group(1) for match in _ENV_REF.finditer(value))
