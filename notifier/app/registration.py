"""Registration with Keptn's control plane, so that the Bridge's Uniform page lists the service.

The distributor sidecar does this for a service it runs next to (keptn/keptn distributor/pkg/uniform, go-utils
pkg/api/utils/v2/uniformUtils.go); without the sidecar the service does it itself, the same way:
`POST <KEPTN_API_ENDPOINT>/controlPlane/v1/uniform/registration` with the integration answers its id (the control
plane derives it from name, namespace and node, and gives every replica of one Deployment the same one), then
`PUT .../registration/{id}/ping` every 10 s keeps it "last seen". A ping answered 404 (the registration was
deleted) registers again. Nothing else is ever sent: no event, no other API call. Failures are logged, one line
each, and retried; they never stop the service or make it unready.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from notifier import SERVICE_NAME, __version__
from notifier.clock import Clock
from notifier.config.settings import Settings
from notifier.redact import Redactor

log = logging.getLogger("notifier.registration")

PING_INTERVAL = 10.0  # the distributor's HEARTBEAT_INTERVAL
RETRY_INITIAL = 1.0
RETRY_MAX = 60.0
REQUEST_TIMEOUT = 10.0
# The Bridge expects a distributor version; the service speaks the protocol of the last distributor release.
DISTRIBUTOR_VERSION = "1.4.5"
# What the distributor sends when K8S_NODE_NAME is unset: the control plane needs a node to derive the id.
DEFAULT_NODE = "keptn-node"
# Where the distributor says an in-cluster integration runs (one that reads Keptn's NATS).
LOCATION = "control-plane"


class ControlPlaneError(Exception):
    """A call that did not work; the text is one line that says what happened."""


class RegistrationGone(ControlPlaneError):
    """The control plane no longer knows the id (a ping answered 404): register again."""


@dataclass(frozen=True, slots=True)
class Integration:
    """What the registration says about the service: the distributor's payload (go-utils models.Integration)."""

    name: str
    namespace: str
    pod_name: str
    node_name: str
    events: tuple[str, ...]
    projects: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Integration:
        return cls(
            name=settings.k8s_deployment_name or SERVICE_NAME,
            namespace=settings.k8s_namespace,
            # In a pod the host name is the pod's name; K8S_POD_NAME says it explicitly.
            pod_name=settings.k8s_pod_name or socket.gethostname(),
            node_name=settings.k8s_node_name or DEFAULT_NODE,
            events=tuple(pattern.text for pattern in settings.subscription.patterns),
            projects=tuple(settings.project_filter),
            stages=tuple(settings.stage_filter),
            services=tuple(settings.service_filter),
        )

    def payload(self) -> dict[str, Any]:
        event_filter = {"projects": list(self.projects), "stages": list(self.stages), "services": list(self.services)}
        return {
            "name": self.name,
            "metadata": {
                "hostname": self.node_name,
                "integrationversion": __version__,
                "distributorversion": DISTRIBUTOR_VERSION,
                "location": LOCATION,
                "kubernetesmetadata": {
                    "namespace": self.namespace,
                    "podname": self.pod_name,
                    "deploymentname": self.name,
                },
            },
            "subscriptions": [{"event": event, "filter": event_filter} for event in self.events],
        }


def registration_url(endpoint: str) -> str:
    """The registration resource under Keptn's API; an endpoint that already ends in /controlPlane keeps it once."""
    base = endpoint.rstrip("/")
    if not base.endswith("/controlPlane"):
        base += "/controlPlane"
    return base + "/v1/uniform/registration"


class Registration:
    """Registers once, then pings every PING_INTERVAL until stopped; runs as one background task."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: str,
        token: str | None,
        integration: Integration,
        clock: Clock,
        redactor: Redactor,
    ) -> None:
        self._session = session
        self._url = registration_url(endpoint)
        self._headers = {"Content-Type": "application/json", **({"x-token": token} if token else {})}
        self._integration = integration
        self._clock = clock
        self._redact = redactor
        self._task: asyncio.Task[None] | None = None
        self.integration_id: str | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, session: aiohttp.ClientSession, clock: Clock, redactor: Redactor
    ) -> Registration | None:
        """The registration the settings ask for: None unless KEPTN_REGISTER is true."""
        if not settings.keptn_register:
            return None
        if not settings.keptn_api_token:
            log.warning(
                "KEPTN_REGISTER is true but KEPTN_API_TOKEN is empty: Keptn's API gateway will refuse the "
                "registration; set it from the Secret keptn-api-token"
            )
        integration = Integration.from_settings(settings)
        return cls(session, settings.keptn_api_endpoint, settings.keptn_api_token, integration, clock, redactor)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="registration")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        backoff = RETRY_INITIAL
        while True:
            if self.integration_id is None:
                try:
                    self.integration_id = await self._register()
                except ControlPlaneError as exc:
                    self._warn(f"cannot register with Keptn's control plane: {exc}; retrying in {backoff:g}s")
                    await self._clock.sleep(backoff)
                    backoff = min(backoff * 2, RETRY_MAX)
                    continue
                backoff = RETRY_INITIAL
                log.info(
                    "registered with Keptn's control plane as %s, id %s",
                    self._integration.name,
                    self.integration_id,
                )
            await self._clock.sleep(PING_INTERVAL)
            try:
                await self._ping(self.integration_id)
            except RegistrationGone:
                log.info("Keptn's control plane no longer knows id %s: registering again", self.integration_id)
                self.integration_id = None
            except ControlPlaneError as exc:
                self._warn(f"cannot ping Keptn's control plane: {exc}; next ping in {PING_INTERVAL:g}s")

    async def _register(self) -> str:
        body = await self._call("POST", self._url, orjson.dumps(self._integration.payload()))
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ControlPlaneError("the answer is not JSON") from None
        integration_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(integration_id, str) or not integration_id:
            raise ControlPlaneError("the answer has no id")
        return integration_id

    async def _ping(self, integration_id: str) -> None:
        await self._call("PUT", f"{self._url}/{integration_id}/ping", None)

    async def _call(self, method: str, url: str, data: bytes | None) -> bytes:
        try:
            async with self._session.request(
                method, url, data=data, headers=self._headers, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
            ) as response:
                body = await response.read()
        except TimeoutError:
            raise ControlPlaneError(f"{method} {url}: no answer within {REQUEST_TIMEOUT:g}s") from None
        except aiohttp.ClientError as exc:
            raise ControlPlaneError(f"{method} {url}: {type(exc).__name__}: {exc}") from None
        if response.status == 404 and method == "PUT":
            raise RegistrationGone(f"{method} {url}: 404")
        if response.status in (401, 403):
            raise ControlPlaneError(f"{method} {url}: {response.status}: check KEPTN_API_TOKEN")
        if not 200 <= response.status < 300:
            raise ControlPlaneError(f"{method} {url}: {response.status}: check KEPTN_API_ENDPOINT")
        return body

    def _warn(self, message: str) -> None:
        log.warning(self._redact(" ".join(message.split())))
