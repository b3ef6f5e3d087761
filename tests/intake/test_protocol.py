"""Intakes as plugins: the protocol module stands alone, any intake feeds the pipeline, the admin serves regardless."""

import asyncio
import io
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson
import yaml

from notifier.app.service import Service
from notifier.config.load import load_config
from notifier.intake.protocol import EventSink, Summary
from notifier.keptn.events import KeptnEvent, event_from_mapping
from tests.helpers import every_route, free_port, keptn_event, running_service

CONSOLE = {"channels": {"log": {"type": "console"}}, "routes": every_route("log")}


class QueueIntake:
    """A second intake (as NATS is): whatever is put into it goes to the sink, one submit per item."""

    def __init__(self) -> None:
        self.sink: EventSink | None = None
        self.calls: list[str] = []

    async def start(self, sink: EventSink) -> None:
        self.calls.append("start")
        self.sink = sink

    def readiness(self) -> str | None:
        return None

    def pause(self) -> None:
        self.calls.append("pause")

    async def stop(self) -> None:
        self.calls.append("stop")

    async def deliver(self, events: Sequence[KeptnEvent]) -> Summary:
        assert self.sink is not None, "not started"
        return await self.sink.submit(events)


def test_the_protocol_module_imports_no_implementation() -> None:
    probe = (
        "import sys, notifier.intake.protocol; "
        "print(sorted(m for m in sys.modules if m.startswith(('notifier', 'aiohttp', 'pydantic', 'orjson', 'cloudevents'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['notifier', 'notifier.intake', 'notifier.intake.protocol']", loaded


async def test_a_service_with_another_intake_delivers_its_events_and_still_serves_the_admin(tmp_path: Path) -> None:
    intake = QueueIntake()
    async with running_service(tmp_path, CONSOLE, intakes=[intake]) as svc:
        assert intake.calls == ["start"] and intake.sink is svc.service.pipeline
        summary = await intake.deliver([event_from_mapping(keptn_event("q-1")), event_from_mapping(keptn_event("q-1"))])
        assert summary == Summary(accepted=1, duplicates=1)
        for _ in range(200):
            if "ctx-q-1" in svc.stdout.getvalue():
                break
            await asyncio.sleep(0.01)
        assert "ctx-q-1" in svc.stdout.getvalue()
        # /health, /ready, /metrics on the event port, which takes no events: there is no HTTP intake.
        assert await svc.get("/health") == (200, '{"status": "ok"}')
        assert (await svc.get("/ready"))[0] == 200
        assert await svc.metric("keptn_notifier_events_accepted_total") == 1
        async with svc.session.post(svc.admin_url + "/", data=orjson.dumps(keptn_event("q-2"))) as response:
            assert response.status in (404, 405)
    assert intake.calls == ["start", "pause", "stop"]


async def test_without_an_http_intake_an_admin_port_of_its_own_is_the_only_listener(tmp_path: Path) -> None:
    async with running_service(tmp_path, CONSOLE, intakes=[], admin_port=0, admin_host="127.0.0.1") as svc:
        assert svc.service.event_server.port is None and svc.url == ""
        assert (await svc.get("/ready"))[0] == 200


async def test_the_same_port_named_twice_is_one_server_carrying_both(tmp_path: Path) -> None:
    port = free_port()
    async with running_service(tmp_path, CONSOLE, port=port, admin_port=port, admin_host="127.0.0.1") as svc:
        assert svc.service.admin_server is svc.service.event_server
        assert svc.url == svc.admin_url == f"http://127.0.0.1:{port}"
        status, body = await svc.post_json(keptn_event("same-port"))
        assert (status, body) == (202, {"accepted": 1, "ignored": 0, "duplicates": 0})
        assert await svc.get("/health") == (200, '{"status": "ok"}')


async def test_a_service_without_intakes_or_admin_opens_no_port(tmp_path: Path) -> None:
    # What `keptn-notifier replay` runs: the whole pipeline and delivery, and no listener.
    path = tmp_path / "notifier.yaml"
    path.write_text(yaml.safe_dump({**CONSOLE, "settings": {"state_dir": str(tmp_path / "state"), "port": 1}}))
    service = Service(load_config(path, env={}), stdout=io.StringIO(), intakes=[], admin=False)
    await service.start()
    try:
        assert (service.event_server.port, service.admin_port) == (None, None)
        assert await service.submit([event_from_mapping(keptn_event("r-1"))]) == Summary(accepted=1)
    finally:
        await service.stop()
