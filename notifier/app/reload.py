"""Live reload: SIGHUP, `POST /-/reload` on the admin port, or a changed config file or template file read the
config and templates again, check them as `check` does, and put them in force only when they pass.

A bad config changes nothing: the one in force stays, the error is logged once (naming the file and line), the
HTTP answer is 500 with it, and `keptn_notifier_config_last_reload_successful` is 0 until a good one loads.
Settings that only a restart can change (ports, store, NATS, ...: `notifier.config.settings.restart_needed`) are
named the same way while the rest of the reload applies. What a good reload changes in the running service is
the service's `apply` (app/service.py); docs/reload.md says what applies.

The files are polled (Kubernetes updates a mounted ConfigMap by swapping its `..data` symlink, which file events
and mtimes can miss): the resolved path and the contents of the config file and of each file in TEMPLATES_DIR.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from aiohttp import web

from notifier.app.admin_token import refusal
from notifier.app.checks import Checked, check_templates
from notifier.clock import Clock, wait_for_event
from notifier.config.load import Config, load_config
from notifier.config.settings import reloaded, restart_needed
from notifier.config.source import ConfigError, config_file
from notifier.metrics import Metrics
from notifier.redact import Redactor
from notifier.templating import TemplateError, TemplateSet

log = logging.getLogger("notifier.reload")
# How often (seconds) the config file and the templates are looked at.
WATCH_INTERVAL = 3.0


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """Where the running config came from, to read it again: the file, the environment and the command's flags."""

    # As given (--config); None: NOTIFIER_CONFIG's, if the environment names one.
    path: str | Path | None
    env: Mapping[str, str]
    overrides: Mapping[str, object] = field(default_factory=dict)

    def load(self) -> Config:
        return load_config(self.path, self.env, self.overrides)

    @property
    def file(self) -> Path | None:
        return config_file(self.path, self.env)


@dataclass(frozen=True, slots=True)
class Files:
    """What the config file and the template files hold, and where they really are.

    Two snapshots differ when a file's resolved path or contents do (a ConfigMap's `..data` swap changes the
    resolved path of every file). `hash` covers the template files' names and every file's contents, not where
    they are, so replicas with the same files agree.
    """

    # (name, resolved path, SHA-256 of the contents, or why it could not be read), sorted by name.
    entries: tuple[tuple[str, str, str], ...]
    hash: str

    @classmethod
    def read(cls, config_file: Path | None, templates_dir: Path | None) -> Files:
        named: list[tuple[str, Path]] = [] if config_file is None else [("", config_file)]
        if templates_dir is not None:
            try:
                # Entries starting with '.' are a ConfigMap volume's own (`..data`, `..2026_12_06_...`).
                found = [entry for entry in os.scandir(templates_dir) if not entry.name.startswith(".")]
            except OSError:
                found = []
            named.extend(sorted((entry.name, Path(entry.path)) for entry in found if entry.is_file()))
        entries = []
        whole = hashlib.sha256()
        for name, path in named:
            try:
                data = path.read_bytes()
            except OSError as exc:
                digest = f"unreadable: {exc.strerror}"
            else:
                digest = hashlib.sha256(data).hexdigest()
                whole.update(f"{name}\0{len(data)}\0".encode())
                whole.update(data)
            entries.append((name, os.path.realpath(path), digest))
        return cls(tuple(entries), whole.hexdigest())


@dataclass(frozen=True, slots=True)
class ChannelChanges:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    # Configured before and after, but differently: their workers were started anew.
    changed: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [
            f"{what} {', '.join(names)}"
            for what, names in (("added", self.added), ("removed", self.removed), ("changed", self.changed))
            if names
        ]
        return "channels " + "; ".join(parts) if parts else "no channel changed"


class Reloadable(Protocol):
    """The running service, as a reload sees it."""

    config: Config

    async def apply(self, config: Config, templates: TemplateSet) -> ChannelChanges:
        """Put a checked config and its templates in force."""
        ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one reload did. `error` empty: it applied whole."""

    error: str = ""
    # Applied, except these settings (`name (VARIABLE)`), which need a restart.
    restart_needed: tuple[str, ...] = ()
    applied: bool = False
    hash: str = ""
    channels: ChannelChanges = ChannelChanges()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.error

    def as_json(self) -> dict[str, object]:
        if not self.applied:
            return {"status": "failed", "error": self.error}
        answer: dict[str, object] = {
            "status": "reloaded" if self.ok else "restart needed",
            "hash": self.hash,
            "channels": {
                "added": list(self.channels.added),
                "removed": list(self.channels.removed),
                "changed": list(self.channels.changed),
            },
            "warnings": list(self.warnings),
        }
        if not self.ok:
            answer |= {"error": self.error, "restartNeeded": list(self.restart_needed)}
        return answer


class Reloader:
    """Reloads the service's config on a signal, a request or a file change, one reload at a time."""

    def __init__(
        self,
        service: Reloadable,
        source: ConfigSource,
        metrics: Metrics,
        redactor: Redactor,
        clock: Clock,
        admin_token: str | None,
    ) -> None:
        self._service = service
        self._source = source
        self._metrics = metrics
        self._redact = redactor
        self._clock = clock
        self._admin_token = admin_token
        self._lock = asyncio.Lock()
        self._files = self._read_files(service.config.settings.templates_dir)
        self._stopping = asyncio.Event()
        self._watching: asyncio.Task[None] | None = None
        # Reloads a signal started: kept, so that none is collected half-way, and waited for on close.
        self._triggered: set[asyncio.Task[Outcome]] = set()

    def _read_files(self, templates_dir: Path | None) -> Files:
        return Files.read(self._source.file, templates_dir)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/-/reload", self.handle)

    def start(self) -> None:
        """The config the service started with is in force, whole; from now on the files are watched."""
        self._in_force(self._files.hash, whole=True)
        self._watching = asyncio.create_task(self._watch(), name="config-watch")

    def trigger(self, why: str) -> None:
        """Reload soon (a signal handler cannot wait)."""
        if self._stopping.is_set():
            return
        task = asyncio.create_task(self.reload(why), name="config-reload")
        self._triggered.add(task)
        task.add_done_callback(self._triggered.discard)

    async def handle(self, request: web.Request) -> web.Response:
        refused = refusal(request, self._admin_token, "POST /-/reload")
        if refused is not None:
            return refused
        outcome = await self.reload("POST /-/reload")
        return web.json_response(outcome.as_json(), status=200 if outcome.ok else 500)

    async def reload(self, why: str, only_if_changed: bool = False) -> Outcome:
        """Load, check and apply the config and templates; `why` names the trigger in the log."""
        async with self._lock:
            if self._stopping.is_set():
                return Outcome(error="the service is stopping")
            running = self._service.config
            files = await asyncio.to_thread(self._read_files, running.settings.templates_dir)
            if only_if_changed and files == self._files:
                return Outcome(applied=True, hash=files.hash)
            try:
                config, checked = await asyncio.to_thread(self._load)
            except (ConfigError, TemplateError) as exc:
                return self._failed(why, files, str(exc))
            except OSError as exc:  # a folder that went away while it was read
                return self._failed(why, files, f"cannot read the config or templates: {exc}")
            if checked.problems:
                routes = [f"{config.origin}: {problem}" for problem in checked.route_problems]
                return self._failed(why, files, "; ".join((*checked.template_problems, *routes)))
            if config.settings.templates_dir != running.settings.templates_dir:
                files = await asyncio.to_thread(self._read_files, config.settings.templates_dir)
            return await self._apply(why, files, running, config, checked)

    def _load(self) -> tuple[Config, Checked]:
        """On a thread: compiling the templates takes a fifth of a second the event loop must not lose."""
        config = self._source.load()
        return config, check_templates(config)

    def _failed(self, why: str, files: Files, error: str, *, bug: bool = False) -> Outcome:
        """Logged once here; the watcher waits for the next change of the files instead of failing again."""
        self._files = files
        self._metrics.config_last_reload_successful.set(0)
        error = self._redact(error)
        log.error("reload (%s) failed; the config in force stays: %s", why, error, extra={"trigger": why}, exc_info=bug)
        return Outcome(error=error)

    async def _apply(self, why: str, files: Files, running: Config, config: Config, checked: Checked) -> Outcome:
        restart = tuple(restart_needed(running.settings, config.settings))
        in_force = replace(config, settings=reloaded(running.settings, config.settings))
        try:
            channels = await self._service.apply(in_force, checked.templates)
        except Exception as exc:  # a bug: say so, and leave the metric at 0 until a reload applies whole
            return self._failed(why, files, f"applying the new config failed: {type(exc).__name__}: {exc}", bug=True)
        self._files = files
        warnings = tuple(self._redact(warning) for warning in (*config.warnings, *checked.warnings))
        for warning in warnings:
            log.warning(warning)
        self._in_force(files.hash, whole=not restart)
        outcome = Outcome(applied=True, hash=files.hash, channels=channels, warnings=warnings)
        if restart:
            error = f"changed settings need a restart: {', '.join(restart)}; the rest of the reload applied"
            log.error("reload (%s): %s (%s)", why, error, channels.describe(), extra={"trigger": why})
            return replace(outcome, error=error, restart_needed=restart)
        log.info("config reloaded (%s): %s", why, channels.describe(), extra={"trigger": why, "hash": files.hash})
        return outcome

    def _in_force(self, hash_: str, *, whole: bool) -> None:
        self._metrics.config_info.clear()
        self._metrics.config_info.labels(hash_).set(1)
        self._metrics.config_last_reload_successful.set(1 if whole else 0)
        if whole:
            self._metrics.config_last_reload_success_timestamp.set(self._clock.time())

    async def _watch(self) -> None:
        while not await wait_for_event(self._clock, self._stopping, WATCH_INTERVAL):
            try:
                files = await asyncio.to_thread(self._read_files, self._service.config.settings.templates_dir)
                if files != self._files:
                    await self.reload("file change", only_if_changed=True)
            except Exception:  # a bug: the watch goes on, SIGHUP and POST /-/reload still work
                log.exception("watching the config files failed")

    async def close(self) -> None:
        """No reload starts from now on; one under way finishes first."""
        self._stopping.set()
        if self._watching is not None:
            await asyncio.gather(self._watching, return_exceptions=True)
        await asyncio.gather(*self._triggered, return_exceptions=True)
        async with self._lock:
            pass
