"""Registration with Keptn's control plane, against a fake control plane on loopback.

The fake answers the two calls the distributor makes (go-utils uniformUtils.go, shipyard-controller's
uniformintegrationhandler.go): `POST /controlPlane/v1/uniform/registration` answers `{"id": ...}`, and
`PUT /controlPlane/v1/uniform/registration/{id}/ping` answers the integration, or 404 for an unknown id. Time is
a FakeClock, so "every 10 s" is checked to the fake second without waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from notifier import __version__
from notifier.app.registration import PING_INTERVAL, Integration, Registration, registration_url
from notifier.config.load import load_config
from notifier.config.settings import Settings
from notifier.config.source import ConfigError
from notifier.redact import Redactor
from tests.clock import FakeClock
from tests.conftest import AiohttpServer
from tests.helpers import every_route, free_port, keptn_event, running_service

TOKEN = "keptn-api-token-0123456789abcdef"
REGISTRATION = "/controlPlane/v1/uniform/registration"
# The real-time bound for a loopback answer to arrive; the fake clock does not move meanwhile.
ARRIVAL_BOUND = 5.0


@dataclass
class Call:
    method: str
    path: str
    token: str | None
    body: Any


@dataclass
class FakeControlPlane:
    """Records every request; registration answers ids from `ids`, pings answer the next of `ping_statuses`."""

    ids: list[str] = field(default_factory=lambda: ["id-1", "id-2", "id-3"])
    register_statuses: list[int] = field(default_factory=list)
    ping_statuses: list[int] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    known: set[str] = field(default_factory=set)
    url: str = ""

    @property
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(REGISTRATION, self._register)
        app.router.add_put(REGISTRATION + "/{id}/ping", self._ping)
        app.router.add_route("*", "/{tail:.*}", self._other)
        return app

    def of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def _register(self, request: web.Request) -> web.Response:
        self.calls.append(Call("POST", request.path, request.headers.get("x-token"), await request.json()))
        if self.register_statuses:
            return web.json_response({"message": f"echo {TOKEN}"}, status=self.register_statuses.pop(0))
        integration_id = self.ids.pop(0)
        self.known.add(integration_id)
        return web.json_response({"id": integration_id}, status=201)

    async def _ping(self, request: web.Request) -> web.Response:
        integration_id = request.match_info["id"]
        self.calls.append(Call("PUT", request.path, request.headers.get("x-token"), await request.read()))
        status = self.ping_statuses.pop(0) if self.ping_statuses else 200
        if status == 404:
            self.known.discard(integration_id)
        if integration_id not in self.known:
            return web.json_response({"code": 404, "message": "integration not found"}, status=404)
        return web.json_response({"id": integration_id, "name": "keptn-notifier"}, status=status)

    async def _other(self, request: web.Request) -> web.Response:
        self.calls.append(Call(request.method, request.path, request.headers.get("x-token"), await request.read()))
        return web.json_response({"message": "not a call the notifier may make"}, status=418)


@pytest.fixture
async def control_plane(aiohttp_server: AiohttpServer) -> FakeControlPlane:
    fake = FakeControlPlane()
    server = await aiohttp_server(fake.app, host="127.0.0.1", access_log=None)
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


async def until(condition: Callable[[], bool]) -> None:
    """Real time, bounded: loopback answers arrive while the fake clock stands still."""
    async with asyncio.timeout(ARRIVAL_BOUND):
        while not condition():
            await asyncio.sleep(0.005)


async def asleep_after(cp: FakeControlPlane, clock: FakeClock, calls: int) -> None:
    """Until the fake has `calls` requests and the registration sleeps on the clock again."""
    await until(lambda: len(cp.calls) == calls and clock.next_wake is not None)


async def after_a_ping(cp: FakeControlPlane, clock: FakeClock, calls: int) -> None:
    """Moves the clock by one ping interval, then waits as `asleep_after` does."""
    await clock.advance(PING_INTERVAL)
    await asleep_after(cp, clock, calls)


def integration() -> Integration:
    return Integration(
        name="keptn-notifier",
        namespace="keptn",
        pod_name="keptn-notifier-5d8f-abcde",
        node_name="node-1",
        events=("sh.keptn.event.*.*.finished", "sh.keptn.events.problem"),
        stages=("production",),
    )


def registration(
    cp: FakeControlPlane, session: aiohttp.ClientSession, clock: FakeClock, token: str | None = TOKEN
) -> Registration:
    return Registration(session, cp.url + "/controlPlane", token, integration(), clock, Redactor([TOKEN]))


async def test_registers_once_with_the_distributors_payload_and_pings_every_10_seconds(
    control_plane: FakeControlPlane, http_session: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    reg = registration(control_plane, http_session, clock)
    reg.start()
    try:
        await asleep_after(control_plane, clock, 1)
        (register,) = control_plane.of("POST")
        assert register.path == REGISTRATION and register.token == TOKEN
        production = {"projects": [], "stages": ["production"], "services": []}
        assert register.body == {
            "name": "keptn-notifier",
            "metadata": {
                "hostname": "node-1",
                "integrationversion": __version__,
                "distributorversion": "1.4.5",
                "location": "control-plane",
                "kubernetesmetadata": {
                    "namespace": "keptn",
                    "podname": "keptn-notifier-5d8f-abcde",
                    "deploymentname": "keptn-notifier",
                },
            },
            "subscriptions": [
                {"event": "sh.keptn.event.*.*.finished", "filter": production},
                {"event": "sh.keptn.events.problem", "filter": production},
            ],
        }
        assert reg.integration_id == "id-1"
        assert clock.next_wake == PING_INTERVAL == 10.0

        await clock.advance(9.5)
        assert len(control_plane.calls) == 1 and clock.next_wake == pytest.approx(0.5)
        await clock.advance(0.5)
        await asleep_after(control_plane, clock, 2)
        for pings in range(2, 6):
            assert clock.next_wake == PING_INTERVAL
            await after_a_ping(control_plane, clock, pings + 1)

        assert len(control_plane.of("POST")) == 1, "registers once"
        pings_made = control_plane.of("PUT")
        assert len(pings_made) == 5
        assert {(call.path, call.token, call.body) for call in pings_made} == {
            (REGISTRATION + "/id-1/ping", TOKEN, b"")
        }
    finally:
        await reg.stop()


async def test_a_ping_answered_404_registers_again_and_pings_the_new_id(
    control_plane: FakeControlPlane, http_session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    control_plane.ping_statuses = [200, 404]
    reg = registration(control_plane, http_session, clock)
    reg.start()
    try:
        with caplog.at_level(logging.INFO, "notifier.registration"):
            await asleep_after(control_plane, clock, 1)
            await after_a_ping(control_plane, clock, 2)
            # The 404 is followed at once (no sleep in between) by a new registration.
            await after_a_ping(control_plane, clock, 4)
            assert [call.method for call in control_plane.calls] == ["POST", "PUT", "PUT", "POST"]
            assert reg.integration_id == "id-2"
            await after_a_ping(control_plane, clock, 5)
        assert control_plane.calls[-1].path == REGISTRATION + "/id-2/ping"
        assert "no longer knows id id-1: registering again" in caplog.text
    finally:
        await reg.stop()


async def test_failures_are_one_line_each_retried_with_backoff_and_never_show_the_token(
    control_plane: FakeControlPlane, http_session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    control_plane.register_statuses = [500, 401, 503]
    control_plane.ping_statuses = [502]
    reg = registration(control_plane, http_session, clock)
    reg.start()
    try:
        with caplog.at_level(logging.INFO, "notifier.registration"):
            waits = []
            for attempt in range(1, 4):
                await asleep_after(control_plane, clock, attempt)
                waits.append(clock.next_wake)
                await clock.advance(clock.next_wake or 0)
            await asleep_after(control_plane, clock, 4)
            assert reg.integration_id == "id-1"
            assert clock.next_wake == PING_INTERVAL
            await after_a_ping(control_plane, clock, 5)
            # A failed ping keeps the id and tries again at the next interval.
            assert reg.integration_id == "id-1" and clock.next_wake == PING_INTERVAL
            await after_a_ping(control_plane, clock, 6)
        assert waits == [1.0, 2.0, 4.0]
        assert [call.method for call in control_plane.calls] == ["POST"] * 4 + ["PUT"] * 2
        warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
        assert len(warnings) == 4
        assert all("\n" not in record.getMessage() for record in warnings)
        assert "500: check KEPTN_API_ENDPOINT" in warnings[0].getMessage()
        assert "401: check KEPTN_API_TOKEN" in warnings[1].getMessage()
        assert "retrying in 4s" in warnings[2].getMessage()
        assert "cannot ping" in warnings[3].getMessage() and "502" in warnings[3].getMessage()
        assert TOKEN not in caplog.text
    finally:
        await reg.stop()


async def test_an_unreachable_control_plane_is_logged_and_retried_not_fatal(
    http_session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    closed = f"http://127.0.0.1:{free_port()}/api"
    reg = Registration(http_session, closed, TOKEN, integration(), clock, Redactor([TOKEN]))
    with caplog.at_level(logging.WARNING, "notifier.registration"):
        reg.start()
        await until(lambda: clock.next_wake is not None)
        await clock.advance(1.0)
        await until(lambda: len(caplog.records) == 2 and clock.next_wake is not None)
    assert clock.next_wake == 2.0, "the second failure doubles the wait"
    assert reg.integration_id is None
    message = caplog.records[0].getMessage()
    assert message.startswith("cannot register with Keptn's control plane: POST " + registration_url(closed))
    assert "ClientConnectorError" in message and "retrying in 1s" in message
    assert TOKEN not in caplog.text
    await reg.stop()


async def test_stop_ends_the_pings(control_plane: FakeControlPlane, http_session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    reg = registration(control_plane, http_session, clock)
    reg.start()
    await asleep_after(control_plane, clock, 1)
    await reg.stop()
    assert clock.next_wake is None, "nobody sleeps: the task is gone"
    await clock.advance(10 * PING_INTERVAL)
    assert len(control_plane.calls) == 1


def test_registration_url_is_under_the_control_plane_once() -> None:
    assert registration_url("http://api-gateway-nginx/api") == (
        "http://api-gateway-nginx/api/controlPlane/v1/uniform/registration"
    )
    assert registration_url("https://keptn.example.com/api/controlPlane/") == (
        "https://keptn.example.com/api/controlPlane/v1/uniform/registration"
    )


def test_integration_from_settings_uses_the_distributors_variables_and_defaults() -> None:
    settings = load_config(
        env={
            "KEPTN_REGISTER": "true",
            "K8S_DEPLOYMENT_NAME": "notifier-a",
            "K8S_NAMESPACE": "keptn-x",
            "K8S_POD_NAME": "notifier-a-123",
            "K8S_NODE_NAME": "node-7",
            "PUBSUB_TOPIC": "sh.keptn.event.evaluation.finished, sh.keptn.log.error",
            "PROJECT_FILTER": "sockshop",
        }
    ).settings
    found = Integration.from_settings(settings)
    assert found == Integration(
        name="notifier-a",
        namespace="keptn-x",
        pod_name="notifier-a-123",
        node_name="node-7",
        events=("sh.keptn.event.evaluation.finished", "sh.keptn.log.error"),
        projects=("sockshop",),
    )
    defaults = Integration.from_settings(Settings())
    # The control plane derives the id from name, namespace and node: none may be empty.
    assert (defaults.name, defaults.namespace, defaults.node_name) == ("keptn-notifier", "keptn", "keptn-node")
    assert defaults.pod_name


def test_keptn_settings_are_parsed_at_the_edge() -> None:
    settings = load_config(env={"KEPTN_REGISTER": "true", "KEPTN_API_TOKEN": TOKEN}).settings
    assert settings.keptn_register is True
    assert settings.keptn_api_endpoint == "http://api-gateway-nginx/api"
    assert Settings().keptn_register is False
    assert TOKEN in load_config(env={"KEPTN_API_TOKEN": TOKEN}).secrets(), "the Redactor learns the token"
    with pytest.raises(ConfigError, match="KEPTN_API_ENDPOINT: .*Keptn's API URL"):
        load_config(env={"KEPTN_API_ENDPOINT": "api-gateway-nginx"})
    with pytest.raises(ConfigError, match="KEPTN_REGISTER"):
        load_config(env={"KEPTN_REGISTER": "sometimes"})


# --- in the running service ---------------------------------------------------------------------------------

CONSOLE = {"channels": {"log": {"type": "console"}}, "routes": every_route("log")}


async def test_the_service_sends_nothing_to_keptn_without_keptn_register(
    tmp_path: Path, control_plane: FakeControlPlane
) -> None:
    env = {"KEPTN_API_ENDPOINT": control_plane.url, "KEPTN_API_TOKEN": TOKEN}
    async with running_service(tmp_path, CONSOLE, env=env) as running:
        assert running.service.settings.keptn_api_endpoint == control_plane.url
        assert running.service.registration is None
        response = await running.post(keptn_event())
        assert response.status == 202
        await until(lambda: "carts" in running.stdout.getvalue())
    assert control_plane.calls == []


async def test_the_service_registers_when_asked_and_stops_on_shutdown(
    tmp_path: Path, control_plane: FakeControlPlane, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "KEPTN_REGISTER": "true",
        "KEPTN_API_ENDPOINT": control_plane.url,
        "KEPTN_API_TOKEN": TOKEN,
        "K8S_NODE_NAME": "node-1",
    }
    with caplog.at_level(logging.DEBUG):
        async with running_service(tmp_path, CONSOLE, env=env) as running:
            registration = running.service.registration
            assert registration is not None and registration.running
            await until(lambda: registration.integration_id == "id-1")
        assert running.service.registration is registration
    (register,) = control_plane.calls
    assert register.path == REGISTRATION and register.token == TOKEN
    assert register.body["name"] == "keptn-notifier"
    assert register.body["metadata"]["hostname"] == "node-1"
    assert not registration.running, "stopped with the service"
    assert TOKEN not in caplog.text
