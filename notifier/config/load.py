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
from types import MappingProxyType
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from notifier.channels import CHANNEL_TYPES, CHANNEL_VARIABLES, AnyChannelConfig, env_channels
from notifier.channels.base import ChannelConfig, EnvChannel, EnvChannelError
from notifier.config.errors import describe
from notifier.config.variables import unknown_variable_warnings
from notifier.config.warnings import subscription_warnings
from notifier.config.yaml_marks import YamlDocument
from notifier.keptn.match import Match, comma_list
from notifier.keptn.subjects import SubjectSet
from notifier.noise.rules import NoiseRules
from notifier.pipeline.bounds import InputLimits
from notifier.render.mentions import MentionRules
from notifier.store.jetstream.sizes import DEFAULT_TOTAL, MIN_TOTAL, in_words
from notifier.suggest import did_you_mean

# Sequence ends, quality gates, approvals waiting for a human, problems and errors: what a team wants in chat.
# Not every .triggered/.started, which would flood a channel.
DEFAULT_PUBSUB_TOPIC = (
    "sh.keptn.event.*.*.finished,sh.keptn.event.evaluation.finished,sh.keptn.event.approval.triggered,"
    "sh.keptn.event.*.remediation.triggered,sh.keptn.events.problem,sh.keptn.log.error"
)
DEFAULT_STATE_DIR = "./notifier-state"
# Keptn 0.14 and later run NATS under this name (the variable and default Keptn's own Go services use).
DEFAULT_NATS_URL = "nats://keptn-nats"
# Keptn's API gateway as seen from a pod in Keptn's namespace (the Service api-gateway-nginx, path /api).
DEFAULT_KEPTN_API_ENDPOINT = "http://api-gateway-nginx/api"
# A NATS name (stream, consumer, queue group): no dots, wildcards, spaces, or the ':' of the shipyard-controller's
# consumer ("shipyard-controller:all-events"), which can therefore never be named here.
_NATS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3, None: 1}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# The YAML config file, when there is one (or --config).
CONFIG_VARIABLE = "NOTIFIER_CONFIG"


class ConfigError(Exception):
    """Stops start-up; the text names the file or variable, the place, and the fix."""


def parse_duration(value: object) -> float:
    """Seconds from `90`, `30s`, `5m`, `1h`, `7d`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration: write e.g. 30s, 5m, 1h or 7d")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_size(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size: write e.g. 1048576, 512KiB, 1MiB or 2GiB")
    unit = match.group(2).lower() if match.group(2) else None
    return int(match.group(1)) * _SIZE_UNITS[unit]


@dataclass(frozen=True, slots=True)
class Env:
    """Marks a setting with the environment variable that sets it: `port: Annotated[int, Env("PORT")]`."""

    variable: str


class Settings(BaseModel):
    """Service-wide knobs: names in the YAML `settings:` section; `Env(...)` names a knob's environment variable."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    # A container listens on all interfaces; the manifests bind 127.0.0.1.
    host: Annotated[str, Env("NOTIFIER_HOST")] = "0.0.0.0"  # noqa: S104
    port: Annotated[int, Env("PORT")] = Field(default=8080, ge=0, le=65535)
    admin_host: Annotated[str, Env("NOTIFIER_ADMIN_HOST")] = "0.0.0.0"  # noqa: S104
    admin_port: Annotated[int | None, Env("NOTIFIER_ADMIN_PORT")] = Field(default=None, ge=0, le=65535)
    state_dir: Annotated[Path, Env("NOTIFIER_STATE_DIR")] = Path(DEFAULT_STATE_DIR)
    # Where the outbox, the dedup memory and the dead letters live: SQLite in state_dir, or NATS JetStream.
    store: Annotated[Literal["sqlite", "nats"], Env("NOTIFIER_STORE")] = "sqlite"
    nats_url: Annotated[str, Env("NATS_URL")] = DEFAULT_NATS_URL
    nats_prefix: Annotated[str, Env("NOTIFIER_NATS_PREFIX")] = "keptn-notifier"
    # What all the service's streams and buckets reserve of JetStream file storage together (store/jetstream/sizes.py).
    nats_max_bytes: Annotated[int, Env("NOTIFIER_NATS_MAX_BYTES")] = DEFAULT_TOTAL
    # Events straight from NATS (on when NATS_URL is given; see `nats_intake`): None = JetStream if the server
    # has it, else a core subscription.
    nats_jetstream: Annotated[bool | None, Env("NATS_JETSTREAM")] = None
    nats_stream: Annotated[str, Env("NATS_STREAM")] = "keptn"
    nats_consumer: Annotated[str, Env("NATS_CONSUMER")] = "keptn-notifier"
    pubsub_group: Annotated[str, Env("PUBSUB_GROUP")] = "keptn-notifier"
    pubsub_topic: Annotated[str, Env("PUBSUB_TOPIC")] = DEFAULT_PUBSUB_TOPIC
    project_filter: Annotated[list[str], Env("PROJECT_FILTER")] = []
    stage_filter: Annotated[list[str], Env("STAGE_FILTER")] = []
    service_filter: Annotated[list[str], Env("SERVICE_FILTER")] = []
    bridge_url: Annotated[str, Env("KEPTN_BRIDGE_URL")] = ""
    templates_dir: Annotated[Path | None, Env("TEMPLATES_DIR")] = None
    log_level: Annotated[str, Env("LOG_LEVEL")] = "INFO"
    max_body_bytes: Annotated[int, Env("NOTIFIER_MAX_BODY")] = Field(default=1024 * 1024, ge=1024)
    max_batch_events: int = Field(default=100, ge=1)
    max_depth: int = Field(default=32, ge=4, le=256)
    max_keys: int = Field(default=10_000, ge=100)
    max_string_chars: int = Field(default=8_192, ge=256)
    max_labels: int = Field(default=50, ge=1)
    ingest_token: Annotated[str | None, Env("NOTIFIER_INGEST_TOKEN")] = None
    dedup_window: Annotated[float, Env("NOTIFIER_DEDUP_WINDOW")] = Field(default=3600.0, ge=0)
    dedup_max_entries: int = Field(default=100_000, ge=100)
    retry_max_age: Annotated[float, Env("NOTIFIER_RETRY_MAX_AGE")] = Field(default=86400.0, gt=0)
    retry_initial_backoff: float = Field(default=2.0, gt=0)
    retry_max_backoff: float = Field(default=10.0, gt=0)
    shutdown_grace: Annotated[float, Env("NOTIFIER_SHUTDOWN_GRACE")] = Field(default=20.0, ge=0)
    # Registration with Keptn's control plane (Bridge > Uniform), as the distributor does: only when asked.
    keptn_register: Annotated[bool, Env("KEPTN_REGISTER")] = False
    keptn_api_endpoint: Annotated[str, Env("KEPTN_API_ENDPOINT")] = DEFAULT_KEPTN_API_ENDPOINT
    keptn_api_token: Annotated[str | None, Env("KEPTN_API_TOKEN")] = None
    # What the registration says about the pod: the distributor's variables, filled in by the downward API.
    k8s_deployment_name: Annotated[str, Env("K8S_DEPLOYMENT_NAME")] = "keptn-notifier"
    k8s_namespace: Annotated[str, Env("K8S_NAMESPACE")] = "keptn"
    k8s_pod_name: Annotated[str, Env("K8S_POD_NAME")] = ""
    k8s_node_name: Annotated[str, Env("K8S_NODE_NAME")] = ""
    # How long a run's thread is continued: a notification of an older run starts a new run message.
    thread_max_age: Annotated[float, Env("NOTIFIER_THREAD_MAX_AGE")] = Field(default=14 * 86400.0, gt=0)

    @field_validator("project_filter", "stage_filter", "service_filter", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return comma_list(value)

    @field_validator(
        "dedup_window",
        "retry_max_age",
        "retry_initial_backoff",
        "retry_max_backoff",
        "shutdown_grace",
        "thread_max_age",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("max_body_bytes", "nats_max_bytes", mode="before")
    @classmethod
    def _size(cls, value: object) -> int:
        return parse_size(value)

    @field_validator("nats_max_bytes")
    @classmethod
    def _nats_max_bytes(cls, value: int) -> int:
        if value < MIN_TOTAL:
            raise ValueError(
                f"{in_words(value)} is too small: the service's NATS streams and buckets need at least "
                f"{in_words(MIN_TOTAL)} together: give {MIN_TOTAL // 1024**2}MiB or more (the default is "
                f"{DEFAULT_TOTAL // 1024**2}MiB)"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> str:
        level = str(value).strip().upper()
        if level == "WARN":
            level = "WARNING"
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"{value!r} is not a log level: use debug, info, warning or error")
        return level

    @field_validator("pubsub_topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not SubjectSet.parse(value).patterns:
            raise ValueError("names no event type: give comma-separated types such as sh.keptn.event.*.*.finished")
        return value

    @field_validator("store", mode="before")
    @classmethod
    def _store(cls, value: object) -> object:
        return str(value).strip().lower()

    @field_validator("nats_prefix")
    @classmethod
    def _nats_prefix(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", value):
            raise ValueError("names the service's NATS streams: use letters, digits, '-' and '_' only (no dots)")
        return value

    @field_validator("nats_stream", "nats_consumer", "pubsub_group")
    @classmethod
    def _nats_name(cls, value: str) -> str:
        value = value.strip()
        if not _NATS_NAME.match(value):
            raise ValueError("is a NATS name: use letters, digits, '-' and '_' only (no dots, spaces or ':')")
        return value

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^(nats|tls|ws|wss)://[^\s]+$", value):
            raise ValueError("must be a NATS URL such as nats://keptn-nats:4222")
        return value

    @field_validator("bridge_url")
    @classmethod
    def _bridge(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be the Bridge's http(s) URL, e.g. https://keptn.example.com/bridge")
        if value and re.match(r"^https?://[^/?#]*@", value):
            # Every message would post it to the channel; the Bridge asks the people who open a link to log in.
            raise ValueError("must not hold a user or password: give the Bridge's URL as people open it in a browser")
        return value

    @field_validator("keptn_api_endpoint")
    @classmethod
    def _keptn_api(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be Keptn's API URL, e.g. http://api-gateway-nginx/api")
        return value

    @field_validator("templates_dir")
    @classmethod
    def _templates_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a directory: point it at the folder with your .yaml templates")
        return value

    @property
    def input_limits(self) -> InputLimits:
        return InputLimits(self.max_depth, self.max_keys, self.max_string_chars, self.max_labels)

    @property
    def subscription(self) -> SubjectSet:
        return SubjectSet.parse(self.pubsub_topic)

    @property
    def nats_intake(self) -> bool:
        """Events straight from NATS: NATS_URL given (the environment, the file or a flag), not its default."""
        return "nats_url" in self.model_fields_set


# Environment variable -> setting, read from the `Env` marks above (README: "Configure with environment variables").
ENV_SETTINGS: Mapping[str, str] = MappingProxyType(
    {
        mark.variable: name
        for name, field_info in Settings.model_fields.items()
        for mark in field_info.metadata
        if isinstance(mark, Env)
    }
)
# Every variable the service reads: the config file's, the settings' and each channel type's.
KNOWN_VARIABLES: frozenset[str] = frozenset({CONFIG_VARIABLE, *ENV_SETTINGS, *CHANNEL_VARIABLES})


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
        found.extend(token for token in (self.settings.ingest_token, self.settings.keptn_api_token) if token)
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
