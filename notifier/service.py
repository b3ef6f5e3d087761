"""The running service: wires config, store, channels, workers and intakes together, and shuts down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import IO

import aiohttp
from aiohttp import web

from notifier.admin import Admin
from notifier.channels import build_channel
from notifier.channels.base import ChannelConfig, ChannelContext
from notifier.clock import SystemClock
from notifier.compose import Composer
from notifier.config import Config
from notifier.decide import RetryPolicy
from notifier.delivery import ChannelWorker, Dispatcher
from notifier.events import KeptnEvent
from notifier.intake_http import HttpIntake
from notifier.metrics import Metrics
from notifier.pacing import Pacer
from notifier.pipeline import Pipeline, Summary
from notifier.priority import IntakePriority
from notifier.redact import Redactor
from notifier.routing import Router
from notifier.store import Health
from notifier.store.factory import make_store
from notifier.templating import TemplateLimits, TemplateSet
from notifier.threads import RunThreads

log = logging.getLogger("notifier.service")
HOUSEKEEPING_INTERVAL = 2.0


def max_in_flight(channel: ChannelConfig) -> int:
    # Paced channels send one at a time, in order; an unpaced sink (a local relay) may take several at once.
    return 1 if channel.rate_limit is not None else 32


class Service:
    def __init__(
        self,
        config: Config,
        templates: TemplateSet | None = None,
        stdout: IO[str] | None = None,
        http: bool = True,
    ) -> None:
        self.config = config
        self._http = http
        self.settings = config.settings
        self.redactor = Redactor(config.secrets())
        self.metrics = Metrics()
        self.clock = SystemClock()
        self.priority = IntakePriority(self.clock)
        self.templates = templates or TemplateSet(
            self.settings.templates_dir, self.settings.bridge_url, TemplateLimits()
        )
        self._stdout = stdout or sys.stdout
        self.store = make_store(self.settings, self.clock)
        self._store_health = Health()
        self._session: aiohttp.ClientSession | None = None
        self.dispatcher: Dispatcher | None = None
        self.pipeline: Pipeline | None = None
        self.intake: HttpIntake | None = None
        self._admin_runner: web.AppRunner | None = None
        self.admin_port: int | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._state = "starting"

    def readiness(self) -> str | None:
        if self._state != "running":
            return f"service is {self._state}"
        if not self._store_health.ok:
            return self._store_health.problem
        return None

    async def start(self) -> None:
        await self.store.open()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30), connector=aiohttp.TCPConnector(limit=100)
        )
        context = ChannelContext(session=self._session, stdout=self._stdout)
        composer = Composer(self.templates, self.metrics)
        policy = RetryPolicy(
            self.settings.retry_initial_backoff, self.settings.retry_max_backoff, self.settings.retry_max_age
        )
        workers = {}
        for name, channel_config in self.config.channels.items():
            channel = build_channel(name, channel_config, context)
            pacer = Pacer(channel_config.rate_limit, self.clock)
            threads = None
            if channel.threads_and_edits:
                threads = RunThreads(
                    name, channel, pacer, self.store, self.settings.bridge_url, self.clock, policy.initial
                )
            workers[name] = ChannelWorker(
                name,
                channel,
                pacer,
                self.store,
                composer,
                policy,
                self.metrics,
                self.redactor,
                max_in_flight(channel_config),
                self.priority,
                self.clock,
                threads,
            )
        self.dispatcher = Dispatcher(workers)
        self.pipeline = Pipeline(Router(self.config), self.store, self.dispatcher, self.metrics)
        self.dispatcher.start()
        if self._http:
            await self._start_http(self.pipeline)
        self._housekeeping = asyncio.create_task(self._keep_house(), name="housekeeping")
        self._state = "running"
        for warning in self.config.warnings:
            log.warning(warning)

    async def submit(self, events: Sequence[KeptnEvent]) -> Summary:
        assert self.pipeline is not None, "start() the service first"
        return await self.pipeline.submit(events)

    async def _start_http(self, pipeline: Pipeline) -> None:
        admin = Admin(self.metrics, self.readiness)
        separate_admin = self.settings.admin_port is not None
        self.intake = HttpIntake(
            self.settings, self.metrics, None if separate_admin else admin.add_routes, self.priority
        )
        if separate_admin:
            app = web.Application()
            admin.add_routes(app)
            self._admin_runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await self._admin_runner.setup()
            await web.TCPSite(self._admin_runner, self.settings.admin_host, self.settings.admin_port).start()
            self.admin_port = self._admin_runner.addresses[0][1]
        await self.intake.start(pipeline)
        if not separate_admin:
            self.admin_port = self.intake.port
        log.info(
            "listening for events on %s:%s, channels: %s",
            self.settings.host,
            self.intake.port,
            ", ".join(self.config.channels),
            extra={"stateDir": str(self.settings.state_dir)},
        )

    async def check_store(self) -> Health:
        """Ask the store how it is; readiness and the store_writable metric go by the last answer."""
        self._store_health = await self.store.health()
        self.metrics.store_writable.set(1 if self._store_health.ok else 0)
        return self._store_health

    async def _keep_house(self) -> None:
        # The store keeps its dedup memory bounded on its own; this only watches it.
        while True:
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
            await self.clock.sleep(HOUSEKEEPING_INTERVAL)

    async def stop(self) -> None:
        """Refuse new events, let sends in flight finish within the grace period, keep the rest stored."""
        if self._state in ("stopping", "stopped"):
            return
        was_running = self._state == "running"
        self._state = "stopping"
        if self.intake is not None:
            self.intake.pause()
        # No more intake to make room for: sends in flight use the grace period at full speed.
        self.priority.close()
        if self.dispatcher is not None:
            await self.dispatcher.stop(self.settings.shutdown_grace)
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            await asyncio.gather(self._housekeeping, return_exceptions=True)
        if self.intake is not None:
            await self.intake.stop()
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
        await self.store.close()
        if self._session is not None:
            await self._session.close()
        self._state = "stopped"
        if was_running:
            log.info("stopped; undelivered notifications stay in %s for the next start", self.settings.state_dir)


async def serve(config: Config, templates: TemplateSet | None = None) -> None:
    service = Service(config, templates)
    try:
        await service.start()
    except BaseException:
        # A half-started service (a port in use, say) still owns a session and the store thread.
        await service.stop()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await service.stop()
