"""Keptn events for the run-state tests: a small builder, and the shipped example runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from notifier.events import KeptnEvent, event_from_mapping

RUNS = Path(__file__).parent.parent / "examples" / "runs"
CONTEXT = "3b6e5c0a-8f3e-4c9d-9a51-2d7f1e0b6c42"


def keptn_event(
    suffix: str,
    stage: str = "staging",
    time: str | None = "2026-11-20T09:40:00Z",
    context: str = CONTEXT,
    event_id: str = "",
    **data: Any,
) -> KeptnEvent:
    """`suffix` is the type after `sh.keptn.event.`; `stage` goes into data; keyword arguments too."""
    raw: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or f"{suffix}-{stage}-{time}",
        "source": "test",
        "type": f"sh.keptn.event.{suffix}",
        "shkeptncontext": context,
        "triggeredid": "",
        "data": {"project": "sockshop", "stage": stage, "service": "carts", **data},
    }
    if time is not None:
        raw["time"] = time
    return event_from_mapping(raw)


def shipped_run(name: str) -> list[KeptnEvent]:
    """The events of an example run, in the order of their file names (the order they happened)."""
    files = sorted((RUNS / name).glob("*.json"))
    assert files, f"no events in {RUNS / name}"
    return [event_from_mapping(orjson.loads(path.read_bytes()), str(path)) for path in files]
