"""Start the real service in-process on 127.0.0.1 with a YAML config, for tests that talk to it over HTTP."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from notifier.config import load_config
from notifier.intake import IntakeSource
from notifier.service import Service

STRUCTURED = "application/cloudevents+json"


def keptn_event(
    event_id: str = "ev-1", type_: str = "sh.keptn.event.evaluation.finished", **data: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project": "sockshop",
        "stage": "production",
        "service": "carts",
        "result": "fail",
        "status": "succeeded",
    }
    body.update(data)
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "lighthouse-service",
        "type": type_,
        "shkeptncontext": "ctx-" + event_id,
        "time": "2026-11-20T10:00:00.000Z",
        "data": body,
    }


class RunningService:
    def __init__(self, service: Service, session: aiohttp.ClientSession, stdout: io.StringIO) -> None:
        self.service = service
        self.session = session
        self.stdout = stdout
        port = service.event_server.port  # None: nothing listens on the event port (url "")
        self.url = f"http://127.0.0.1:{port}" if port is not None else ""
        self.admin_url = f"http://127.0.0.1:{service.admin_port}"

    async def post(self, body: Any, content_type: str = STRUCTURED, **headers: str) -> aiohttp.ClientResponse:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        async with self.session.post(self.url + "/", data=raw, headers={"Content-Type": content_type, **headers}) as r:
            await r.read()
            return r

    async def post_json(self, body: Any, content_type: str = STRUCTURED, **headers: str) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        async with self.session.post(self.url + "/", data=raw, headers={"Content-Type": content_type, **headers}) as r:
            return r.status, await r.json(content_type=None)

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(self.admin_url + path) as response:
            return response.status, await response.text()

    async def metric(self, name: str, **labels: str) -> float:
        _, text = await self.get("/metrics")
        wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
        total = 0.0
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            metric_name, _, label_text = key.partition("{")
            if metric_name == name and all(part in label_text for part in wanted.split(",") if part):
                total += float(value)
        return total


@asynccontextmanager
async def running_service(
    tmp_path: Path,
    config: dict[str, Any],
    env: dict[str, str] | None = None,
    intakes: Sequence[IntakeSource] | None = None,
    **settings: Any,
) -> AsyncIterator[RunningService]:
    config = {
        **config,
        "settings": {
            "host": "127.0.0.1",
            "port": 0,
            "state_dir": str(tmp_path / "state"),
            "retry_initial_backoff": "0.05s",
            **config.get("settings", {}),
            **settings,
        },
    }
    path = tmp_path / "notifier.yaml"
    path.write_text(yaml.safe_dump(config))
    stdout = io.StringIO()
    service = Service(load_config(path, env=env or {}), stdout=stdout, intakes=intakes)
    await service.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield RunningService(service, session, stdout)
    finally:
        await service.stop()


def slack_hook(base_url: str, name: str = "hook") -> dict[str, Any]:
    return {"type": "slack", "webhook_url": f"{base_url}/slack/{name}", "rate_limit": "off"}


def teams_hook(base_url: str, name: str = "teams") -> dict[str, Any]:
    return {"type": "teams", "webhook_url": f"{base_url}/teams/{name}?sig=SIGSECRET0123456789", "rate_limit": "off"}


def every_route(*channels: str, **match: Any) -> list[dict[str, Any]]:
    return [{"name": "all", "match": {"types": ["sh.keptn.>", "dev.tekton.>"], **match}, "channels": list(channels)}]
