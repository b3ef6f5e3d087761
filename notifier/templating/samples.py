"""The packaged example events (`notifier/samples`, package `notifier.samples`): for `check`, previews and tests."""

from __future__ import annotations

import orjson

from notifier.keptn.events import KeptnEvent, event_from_mapping
from notifier.templating.sources import package_folder


def load_samples_by_name() -> dict[str, KeptnEvent]:
    """The sample events by file name without `.json`."""
    folder = package_folder("notifier.samples", "notifier/samples")
    samples = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".json"):
            samples[entry.name.removesuffix(".json")] = event_from_mapping(
                orjson.loads(entry.read_bytes()), where=entry.name
            )
    return samples


def load_samples() -> list[KeptnEvent]:
    return list(load_samples_by_name().values())
