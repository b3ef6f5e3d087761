"""The noise stage with a store on the fake clock: quiet hours hold until their end and go out as one digest,
a digest window that ends in quiet hours joins their digest, and a route without noise control is untouched."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from notifier.channels.console import ConsoleConfig
from notifier.config.routes import RouteConfig
from notifier.delivery.compose import Composer
from notifier.keptn.events import event_from_mapping
from notifier.metrics import Metrics
from notifier.noise.decide import DigestWindow
from notifier.noise.memory import NoiseMemory, RepeatMark
from notifier.pipeline.accept import Accept
from notifier.pipeline.noise import NoiseStage
from notifier.pipeline.routing import Routes
from notifier.store import Pending, Retention, Sent, Store
from notifier.store.sqlite import SQLiteStore
from notifier.templating import TemplateSet
from tests.clock import FakeClock
from tests.helpers import keptn_event
from tests.memory_store import MemoryStore

VIENNA = ZoneInfo("Europe/Vienna")
QUIET = {"from": "22:00", "to": "07:00", "timezone": "Europe/Vienna"}
RETENTION = Retention(window=3600, max_entries=10_000)


def at_vienna(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=VIENNA).timestamp()


def route(**noise: Any) -> RouteConfig:
    return RouteConfig.model_validate({"name": "night", "channels": ["hook"], **noise})


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Any:
    made: Store = (
        MemoryStore(clock, RETENTION) if request.param == "memory" else SQLiteStore(tmp_path, clock, RETENTION)
    )
    await made.open()
    yield made
    await made.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=at_vienna("2026-11-20T23:00"))


def channels_of(routes: list[RouteConfig]) -> dict[str, ConsoleConfig]:
    """Every channel the routes name, as a console (which does not thread)."""
    return {name: ConsoleConfig(type="console") for route in routes for name in route.channels}


async def offer(store: Store, routes: list[RouteConfig], metrics: Metrics, *ids: str, **data: Any) -> None:
    noise, routing = NoiseStage(routes), Routes(routes, channels_of(routes))
    wanted = []
    for event_id in ids:
        event = event_from_mapping(keptn_event(event_id, **data))
        wanted.append((event, noise(event, routing.targets(event))))
    assert await Accept(store, metrics)(wanted) == [True] * len(ids)


async def test_quiet_hours_hold_until_their_end_then_one_digest_says_what_was_held(
    store: Store, clock: FakeClock
) -> None:
    rules = route(quiet_hours=QUIET)
    metrics = Metrics()
    await offer(store, [rules], metrics, "q-1", "q-2")
    await offer(store, [rules], metrics, "q-3", service="orders", result="pass")
    held = metrics.registry.get_sample_value(
        "keptn_notifier_notifications_held_total", {"route": "night", "channel": "hook"}
    )
    assert held == 3
    assert await store.claim("hook", 10, 60) == []
    assert await store.next_due("hook") == at_vienna("2026-11-21T07:00")
    await clock.advance(at_vienna("2026-11-21T06:59") - clock.time())
    assert await store.claim("hook", 10, 60) == []
    await clock.advance(60)
    (digest,) = await store.claim("hook", 10, 60)
    assert notes(digest) == "quiet_hours"
    assert ids(digest) == ["q-1", "q-2", "q-3"]
    text = rendered(digest, rules)
    assert "3 notifications held during quiet hours (22:00\N{EN DASH}07:00 Europe/Vienna)" in text
    assert "carts" in text and "orders" in text


async def test_a_digest_window_that_ends_in_quiet_hours_goes_out_with_them(store: Store, clock: FakeClock) -> None:
    await clock.advance(at_vienna("2026-11-21T21:58") - clock.time())
    rules = route(quiet_hours=QUIET, digest={"after": 1, "window": "5m"})
    metrics = Metrics()
    await offer(store, [rules], metrics, "d-1", "d-2")  # the first is sent, the second waits for the window
    await clock.advance(180)  # 22:01: quiet now
    await offer(store, [rules], metrics, "d-3")
    (sent,) = await store.claim("hook", 10, 60)
    assert orjson.loads(sent.body)["id"] == "d-1" and sent.members == ()
    await store.finish([Sent(sent.claim, clock.time())])
    await clock.advance(at_vienna("2026-11-22T07:00") - clock.time())
    (digest,) = await store.claim("hook", 10, 60)
    assert ids(digest) == ["d-2", "d-3"]
    assert notes(digest) == "digest,quiet_hours"
    assert "held during quiet hours" in rendered(digest, rules)


async def test_one_held_notification_goes_out_as_itself(store: Store, clock: FakeClock) -> None:
    rules = route(quiet_hours=QUIET)
    await offer(store, [rules], Metrics(), "solo-1")
    await clock.advance(at_vienna("2026-11-21T07:00") - clock.time())
    (digest,) = await store.claim("hook", 10, 60)
    text = rendered(digest, rules)
    assert "held" not in text and "carts" in text


async def test_a_route_without_noise_control_passes_through_the_stage_untouched() -> None:
    plain, noisy = route(), RouteConfig.model_validate({"name": "n", "channels": ["x"], "repeat_interval": "1m"})
    event = event_from_mapping(keptn_event("p-1"))
    targets = Routes([plain], channels_of([plain])).targets(event)
    assert NoiseStage([plain])(event, targets) is targets
    assert NoiseStage([plain, noisy])(event, targets) == targets  # only the noisy route's targets change
    (attached,) = NoiseStage([noisy])(event, Routes([noisy], channels_of([noisy])).targets(event))
    assert attached.noise is not None and attached.noise.key is not None and len(attached.noise.key) == 64


def test_a_stored_memory_reads_back_and_an_unreadable_one_opens_a_new_window() -> None:
    memory = NoiseMemory(DigestWindow(10.0, 310.0, 4), {"k": RepeatMark(5.0, 65.0, "src\x1fe1")})
    assert NoiseMemory.decode(memory.encode()) == memory
    for unreadable in (b"not json", b'{"window": "x"}', b"[]", None):
        assert NoiseMemory.decode(unreadable) == NoiseMemory()


def ids(item: Pending) -> list[str]:
    return [orjson.loads(member.body)["id"] for member in item.members]


def notes(item: Pending) -> str:
    """The distinct reasons the group's notifications were held for."""
    return ",".join(sorted({member.note for member in item.members}))


def rendered(item: Pending, rules: RouteConfig) -> str:
    composer = Composer(TemplateSet(None), noise={rules.name: rules})
    return orjson.dumps(composer.digest(item, "slack")).decode()
