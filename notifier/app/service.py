"""The running service: wires config, store, channels, workers and intakes together, and shuts down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from typing import IO

import aiohttp

from notifier.app.admin import Admin
from notifier.app.checks import require_route_templates
from notifier.app.registration import Registration
from notifier.app.reload import ChannelChanges, ConfigSource, Reloader
from notifier.app.silences_api import SilencesApi
from notifier.channels import build_channel
from notifier.channels.base import ChannelConfig, ChannelContext
from notifier.channels.http_post import shared_session
from notifier.clock import Clock, SystemClock, wait_for_event
from notifier.config.load import Config
from notifier.config.settings import Settings
from notifier.delivery.compose import Composer
from notifier.delivery.mentions import RouteMentions
from notifier.delivery.pacing import Pacer
from notifier.delivery.priority import IntakePriority
from notifier.delivery.results import RetryPolicy
from notifier.delivery.retire import RetiredChannel
from notifier.delivery.threads import RunThreads
from notifier.delivery.worker import LEASE, ChannelWorker, Dispatcher
from notifier.intake.http import HttpIntake
from notifier.intake.protocol import IntakeSource, Summary
from notifier.intake.web import WebServer, listeners
from notifier.keptn.events import KeptnEvent
from notifier.metrics import Metrics
from notifier.pipeline.pipeline import Pipeline
from notifier.redact import Redactor
from notifier.silences.active import ActiveSilences
from notifier.store import Health, Retention, Storage
from notifier.store.factory import make_storage
from notifier.templating import TemplateLimits, TemplateSet

log = logging.getLogger("notifier.service")
HOUSEKEEPING_INTERVAL = 2.0
# Net allocations of container objects between two young collections (Python's default is 700).
YOUNG_COLLECTION_THRESHOLD = 10_000


def storage_of(settings: Settings, clock: Clock, *, must_exist: bool = False) -> Storage:
    """The backend the settings ask for, not opened yet (the service's, and the tools' on the same outbox)."""
    return make_storage(
        settings.store,
        clock,
        Retention(settings.dedup_window, settings.dedup_max_entries),
        thread_max_age=settings.thread_max_age,
        lease=LEASE,
        state_dir=settings.state_dir,
        nats_url=settings.nats_url,
        nats_prefix=settings.nats_prefix,
        nats_max_bytes=settings.nats_max_bytes,
        must_exist=must_exist,
    )


def _worker_inputs(config: Config, name: str) -> tuple[object, ...]:
    """What a channel's worker is made of: a reload that changes any of it starts the worker anew."""
    settings = config.settings
    return (
        config.channels[name],
        settings.bridge_url,
        settings.retry_initial_backoff,
        settings.retry_max_backoff,
        settings.retry_max_age,
    )


def max_in_flight(channel: ChannelConfig) -> int:
    # Paced channels send one at a time, in order; an unpaced sink (a local relay) may take several at once.
    return 1 if channel.rate_limit is not None else 32


class Service:
    def __init__(
        self,
        config: Config,
        templates: TemplateSet | None = None,
        stdout: IO[str] | None = None,
        intakes: Sequence[IntakeSource] | None = None,
        admin: bool = True,
        source: ConfigSource | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        """`intakes` None: those the config asks for (HTTP).

        `admin` False is a tool's run (replay): no /health, /ready, /metrics, and no registration with Keptn.
        `source`: where `config` was read from, to reload it (SIGHUP, POST /-/reload, a changed file); None, never.
        `redactor`: the one the logs go through, so that a reload's new secrets are masked there too.
        """
        self.config = config
        self.settings = config.settings
        self.redactor = redactor or Redactor()
        self.redactor.learn(config.secrets())
        self.metrics = Metrics()
        self.clock = SystemClock()
        self.priority = IntakePriority(self.clock)
        self.templates = templates or TemplateSet(
            self.settings.templates_dir, self.settings.bridge_url, TemplateLimits()
        )
        self._stdout = stdout or sys.stdout
        self.storage = storage_of(self.settings, self.clock)
        self.store = self.storage.store
        self.silences = ActiveSilences(self.storage.silences, self.clock, self.metrics)
        self._store_health = Health()
        self._session: aiohttp.ClientSession | None = None
        self._context: ChannelContext | None = None
        self.composer: Composer | None = None
        self.dispatcher: Dispatcher | None = None
        self.pipeline: Pipeline | None = None
        self.event_server, self.admin_server = listeners(self.settings)
        self.reloader: Reloader | None = None
        if admin:
            router = self.admin_server.mount("admin")
            Admin(self.metrics, self.readiness).add_routes(router)
            if source is not None:
                self.reloader = Reloader(
                    self, source, self.metrics, self.redactor, self.clock, self.settings.admin_token
                )
                self.reloader.add_routes(router)
            SilencesApi(self.silences, self.storage.silences, lambda: self.config, self.clock).add_routes(router)
        self.intakes: list[IntakeSource] = list(intakes) if intakes is not None else self._configured_intakes()
        self._housekeeping: asyncio.Task[None] | None = None
        self._silences_kept: asyncio.Task[None] | None = None
        # Ends the housekeeping loop even where a cancellation is lost: nats-py swallows one that lands in its
        # flush, and the loop would then go on (and `stop` wait for it) for ever.
        self._keeping_house = asyncio.Event()
        self.registration: Registration | None = None
        self._registers = admin
        self._state = "starting"

    def _configured_intakes(self) -> list[IntakeSource]:
        """HTTP always; NATS too when NATS_URL is given."""
        intakes: list[IntakeSource] = [HttpIntake(self.settings, self.metrics, self.event_server)]
        if self.settings.nats_intake:
            # Imported here: only a service that reads NATS loads the NATS client.
            from notifier.intake.nats import NatsIntake

            intakes.append(NatsIntake(self.settings, self.metrics, self.clock))
        return intakes

    @property
    def admin_port(self) -> int | None:
        return self.admin_server.port

    def _servers(self) -> list[WebServer]:
        """The servers something is mounted on, each once (event and admin server may be one)."""
        servers = [self.event_server] if self.event_server.serves else []
        if self.admin_server.serves and self.admin_server is not self.event_server:
            servers.append(self.admin_server)
        return servers

    def readiness(self) -> str | None:
        if self._state != "running":
            return f"service is {self._state}"
        if not self._store_health.ok:
            return self._store_health.problem
        return next((problem for intake in self.intakes if (problem := intake.readiness()) is not None), None)

    async def start(self) -> None:
        require_route_templates(self.config, self.templates)
        await self.store.open()
        # Read before the first event: a silence applies from the start.
        await self.silences.refresh()
        self._session = shared_session()
        self._context = ChannelContext(session=self._session, stdout=self._stdout)
        self.composer = Composer(
            self.templates,
            self.metrics,
            RouteMentions(self.config.routes),
            {route.name: route for route in self.config.routes},
            self.settings.bridge_url,
            channels=len(self.config.channels),
        )
        self.dispatcher = Dispatcher(
            {name: self._worker(name, channel, self.settings) for name, channel in self.config.channels.items()}
        )
        self.pipeline = Pipeline.build(
            self.config, self.store, self.silences, self.dispatcher.wake, self.metrics, self.priority
        )
        self.dispatcher.start()
        for intake in self.intakes:
            await intake.start(self.pipeline)
        for server in self._servers():
            await server.start()
            log.info("serving %s on %s:%s", " and ".join(server.serves), server.host, server.port)
        self._housekeeping = asyncio.create_task(self._keep_house(), name="housekeeping")
        self._silences_kept = asyncio.create_task(self.silences.run(self.store, self._keeping_house), name="silences")
        if self._registers:
            self.registration = Registration.from_settings(self.settings, self._session, self.clock, self.redactor)
        if self.registration is not None:
            self.registration.start()
        if self.reloader is not None:
            self.reloader.start()
        self._state = "running"
        # Where the outbox is: a directory only for SQLite; with NATS nothing of it is on this machine's disk.
        outbox = (
            {"natsPrefix": self.settings.nats_prefix}
            if self.settings.store == "nats"
            else {"stateDir": str(self.settings.state_dir)}
        )
        log.info("running with channels: %s", ", ".join(self.config.channels), extra=outbox)
        for warning in (*self.config.warnings, *self.templates.warnings()):
            log.warning(warning)

    def _worker(self, name: str, channel_config: ChannelConfig, settings: Settings) -> ChannelWorker:
        assert self._context is not None and self.composer is not None, "start() the service first"
        policy = RetryPolicy(settings.retry_initial_backoff, settings.retry_max_backoff, settings.retry_max_age)
        channel = build_channel(name, channel_config, self._context)
        pacer = Pacer(channel_config.rate_limit, self.clock)
        threads = None
        if channel_config.can_thread():
            threads = RunThreads(
                name, channel, pacer, self.storage.threads, settings.bridge_url, self.clock, policy.initial
            )
        return ChannelWorker(
            name,
            channel,
            pacer,
            self.store,
            self.storage.pace,
            self.composer,
            policy,
            self.metrics,
            self.redactor,
            max_in_flight(channel_config),
            self.priority,
            self.clock,
            threads,
            self.silences,
        )

    async def apply(self, config: Config, templates: TemplateSet) -> ChannelChanges:
        """Put a checked config in force (a reload, app/reload.py): events accepted from now on go by its routes,
        notifications sent from now on render with its templates and mentions, a channel it adds starts, a
        channel it changes starts anew, and a channel it drops stops, its queue parked as dead letters."""
        assert self.pipeline is not None and self.composer is not None and self.dispatcher is not None
        old = self.config
        added = tuple(name for name in config.channels if name not in old.channels)
        removed = tuple(name for name in old.channels if name not in config.channels)
        changed = tuple(
            name
            for name in config.channels
            if name in old.channels and _worker_inputs(old, name) != _worker_inputs(config, name)
        )
        # Made before anything changes: a channel that cannot be built leaves the config in force as it was.
        replacements: dict[str, ChannelWorker | RetiredChannel] = {
            name: self._worker(name, config.channels[name], config.settings) for name in (*added, *changed)
        }
        replacements.update((name, RetiredChannel(name, self.store, self.metrics, self.clock)) for name in removed)
        self.redactor.learn(config.secrets())
        self.config, self.settings, self.templates = config, config.settings, templates
        self.pipeline.reconfigure(config)
        self.composer.reconfigure(
            templates,
            RouteMentions(config.routes),
            {route.name: route for route in config.routes},
            config.settings.bridge_url,
            len(config.channels),
        )
        if config.settings.log_level != old.settings.log_level:
            logging.getLogger().setLevel(config.settings.log_level)
        grace = config.settings.shutdown_grace
        await asyncio.gather(*(self.dispatcher.replace(name, worker, grace) for name, worker in replacements.items()))
        for name in removed:
            for gauge in (self.metrics.queue_depth, self.metrics.oldest_pending_age):
                with contextlib.suppress(KeyError):
                    gauge.remove(name)
        return ChannelChanges(added, removed, changed)

    async def submit(self, events: Sequence[KeptnEvent]) -> Summary:
        assert self.pipeline is not None, "start() the service first"
        return await self.pipeline.submit(events)

    async def check_store(self) -> Health:
        """Ask the store how it is; readiness and the store_writable metric go by the last answer."""
        self._store_health = await self.store.health()
        self.metrics.store_writable.set(1 if self._store_health.ok else 0)
        return self._store_health

    async def _keep_house(self) -> None:
        # The store keeps its dedup memory bounded on its own; this only watches it.
        while not self._keeping_house.is_set():
            with contextlib.suppress(Exception):
                await self.check_store()
                stats = await self.store.stats()
                now = self.clock.time()
                for name in self.config.channels:
                    channel_stats = stats.get(name)
                    pending = channel_stats.pending if channel_stats else 0
                    oldest = channel_stats.oldest_created if channel_stats else None
                    self.metrics.queue_depth.labels(name).set(pending)
                    self.metrics.oldest_pending_age.labels(name).set(now - oldest if oldest else 0)
            await wait_for_event(self.clock, self._keeping_house, HOUSEKEEPING_INTERVAL)

    async def stop(self) -> None:
        """Refuse new events, let sends in flight finish within the grace period, keep the rest stored."""
        if self._state in ("stopping", "stopped"):
            return
        was_running = self._state == "running"
        self._state = "stopping"
        if self.reloader is not None:
            await self.reloader.close()
        for intake in self.intakes:
            intake.pause()
        if self.registration is not None:
            await self.registration.stop()
        # No more intake to make room for: sends in flight use the grace period at full speed.
        self.priority.close()
        if self.dispatcher is not None:
            await self.dispatcher.stop(self.settings.shutdown_grace)
        if self._housekeeping is not None:
            self._keeping_house.set()
            self._housekeeping.cancel()
            await asyncio.gather(self._housekeeping, return_exceptions=True)
        if self._silences_kept is not None:
            self._keeping_house.set()
            await asyncio.gather(self._silences_kept, return_exceptions=True)
        for intake in self.intakes:
            await intake.stop()
        for server in self._servers():
            await server.stop()
        undelivered = 0
        if was_running:
            with contextlib.suppress(Exception):  # a store that cannot be read: the log line names no count
                undelivered = sum(channel.pending for channel in (await self.store.stats()).values())
        await self.store.close()
        if self._session is not None:
            await self._session.close()
        self._state = "stopped"
        where = (
            f"NATS stream {self.settings.nats_prefix}-outbox"
            if self.settings.store == "nats"
            else str(self.settings.state_dir)
        )
        if undelivered:
            log.info("stopped; %d undelivered notification(s) stay in %s for the next start", undelivered, where)
        elif was_running:
            log.info("stopped")


async def serve(
    config: Config,
    templates: TemplateSet | None = None,
    source: ConfigSource | None = None,
    redactor: Redactor | None = None,
) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads the config from `source`."""
    service = Service(config, templates, source=source, redactor=redactor)
    try:
        await service.start()
    except BaseException:
        # A half-started service (a port in use, say) still owns a session and the store thread.
        await service.stop()
        raise
    # What start-up made (modules, compiled templates, config) lives as long as the process: out of the
    # collector's sight, a full collection under load walks only what the traffic made.
    gc.freeze()
    # Young collections far less often: an event leaves about a dozen container objects behind for the
    # collector (reference counting frees the rest), and at the default threshold their collections cost 3 to
    # 4 us of CPU per event under load; at this one they are rare, and at most 10,000 objects wait for one.
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if service.reloader is not None:
        loop.add_signal_handler(signal.SIGHUP, service.reloader.trigger, "SIGHUP")
    await stop.wait()
    log.info("shutting down")
    await service.stop()
