"""The service's settings: each declared once, with the environment variable that sets it, its type and default."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifier.keptn.subjects import SubjectSet
from notifier.store.jetstream.sizes import DEFAULT_TOTAL, MIN_TOTAL, in_words
from notifier.units import comma_list, parse_duration, parse_size

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


@dataclass(frozen=True, slots=True)
class Env:
    """Marks a setting with the environment variable that sets it: `port: Annotated[int, Env("PORT")]`."""

    variable: str


@dataclass(frozen=True, slots=True)
class Reloads:
    """Marks a setting that a live reload applies; any other changed setting waits for a restart, so a new
    setting is a restart's until someone makes the running service follow it and marks it."""


RELOADS = Reloads()


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
    bridge_url: Annotated[str, Env("KEPTN_BRIDGE_URL"), RELOADS] = ""
    templates_dir: Annotated[Path | None, Env("TEMPLATES_DIR"), RELOADS] = None
    log_level: Annotated[str, Env("LOG_LEVEL"), RELOADS] = "INFO"
    max_body_bytes: Annotated[int, Env("NOTIFIER_MAX_BODY")] = Field(default=1024 * 1024, ge=1024)
    max_batch_events: int = Field(default=100, ge=1)
    max_depth: Annotated[int, RELOADS] = Field(default=32, ge=4, le=256)
    max_keys: Annotated[int, RELOADS] = Field(default=10_000, ge=100)
    max_string_chars: Annotated[int, RELOADS] = Field(default=8_192, ge=256)
    max_labels: Annotated[int, RELOADS] = Field(default=50, ge=1)
    ingest_token: Annotated[str | None, Env("NOTIFIER_INGEST_TOKEN")] = None
    # What writes on the admin port (POST /-/reload, silences) must send as `Authorization: Bearer ...`; unset,
    # they answer 403.
    admin_token: Annotated[str | None, Env("NOTIFIER_ADMIN_TOKEN")] = None
    dedup_window: Annotated[float, Env("NOTIFIER_DEDUP_WINDOW")] = Field(default=3600.0, ge=0)
    dedup_max_entries: int = Field(default=100_000, ge=100)
    retry_max_age: Annotated[float, Env("NOTIFIER_RETRY_MAX_AGE"), RELOADS] = Field(default=86400.0, gt=0)
    retry_initial_backoff: Annotated[float, RELOADS] = Field(default=2.0, gt=0)
    retry_max_backoff: Annotated[float, RELOADS] = Field(default=10.0, gt=0)
    shutdown_grace: Annotated[float, Env("NOTIFIER_SHUTDOWN_GRACE"), RELOADS] = Field(default=20.0, ge=0)
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
    # The longest a silence may last (`silence add`, POST /api/v1/silences): a forgotten one ends by then.
    silence_max_duration: Annotated[float, Env("NOTIFIER_SILENCE_MAX_DURATION")] = Field(default=7 * 86400.0, gt=0)

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
        "silence_max_duration",
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
    def subscription(self) -> SubjectSet:
        return SubjectSet.parse(self.pubsub_topic)

    @property
    def nats_intake(self) -> bool:
        """Events straight from NATS: NATS_URL given (the environment, the file or a flag), not its default."""
        return "nats_url" in self.model_fields_set

    @property
    def admin_address(self) -> tuple[str, int]:
        """Where /health, /ready and /metrics listen: the admin's own address, or the event server's it shares."""
        return self.own_admin_address or (self.host, self.port)

    @property
    def own_admin_address(self) -> tuple[str, int] | None:
        """None when the admin shares the event server: no admin port, or the event port on the same host.

        Port 0 (any free port) never shares, since two asks for "any port" are two ports.
        """
        admin_port = self.admin_port
        if admin_port is None or (admin_port == self.port != 0 and self.admin_host == self.host):
            return None
        return self.admin_host, admin_port


# Environment variable -> setting, read from the `Env` marks above (docs/configuration.md, "Settings").
ENV_SETTINGS: Mapping[str, str] = MappingProxyType(
    {
        mark.variable: name
        for name, field_info in Settings.model_fields.items()
        for mark in field_info.metadata
        if isinstance(mark, Env)
    }
)

# The settings a live reload applies (marked `RELOADS` above); a change of any other needs a restart.
RELOADED_SETTINGS: frozenset[str] = frozenset(
    name for name, field_info in Settings.model_fields.items() if RELOADS in field_info.metadata
)


def restart_needed(running: Settings, wanted: Settings) -> list[str]:
    """The settings `wanted` changes that a reload cannot apply, each as `name (VARIABLE)` when a variable sets it."""
    variables = {name: variable for variable, name in ENV_SETTINGS.items()}
    changed = [
        name
        for name in Settings.model_fields
        if name not in RELOADED_SETTINGS and getattr(running, name) != getattr(wanted, name)
    ]
    if running.nats_intake != wanted.nats_intake and "nats_url" not in changed:
        changed.append("nats_url")  # the same URL, given or not: whether events come from NATS changes
    return [f"{name} ({variables[name]})" if name in variables else name for name in changed]


def reloaded(running: Settings, wanted: Settings) -> Settings:
    """The settings in force after a reload: `wanted`'s where a reload applies them, `running`'s elsewhere."""
    return running.model_copy(update={name: getattr(wanted, name) for name in RELOADED_SETTINGS})
