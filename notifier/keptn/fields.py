"""The event fields a user can name in configuration, each with the one function that reads it off an event.

Routes (`match:`), the subscription's `*_FILTER` lists and repeat keys (`repeat_key:`) compare what these
readers return, so an event has one `result`, one `project`, one label value wherever it is compared; a
feature that matches on event fields (silences) looks its names up here too. Every reader is lenient: any
JSON value gives text, never a raise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter
from types import MappingProxyType
from typing import Final

import orjson

from notifier.keptn.events import KeptnEvent
from notifier.keptn.result import result_of
from notifier.keptn.values import mapping
from notifier.suggest import closest

Reader = Callable[[KeptnEvent], str]

# `label:team` is how a matcher names a label; `labels.team` is how repeat keys have named it since they exist.
LABEL_PREFIXES: Final = ("label:", "labels.")


class UnknownField(ValueError):
    """A field name no reader knows; the text names the known ones and the closest."""


def _as_text(value: object) -> str:
    """A string as it is, nothing as empty, anything else as compact JSON with sorted keys.

    Repeat keys are hashes of these values and are stored: this encoding must not change between releases.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _attribute(name: str) -> Reader:
    """A CloudEvent attribute other than the required ones (which are always strings)."""

    def read(event: KeptnEvent) -> str:
        return _as_text(mapping(event.raw).get(name))

    return read


def _data(name: str) -> Reader:
    def read(event: KeptnEvent) -> str:
        return _as_text(mapping(event.data).get(name))

    return read


def _project(event: KeptnEvent) -> str:
    # Keptn's project.create and project.delete events name their project only in `projectName`.
    data = mapping(event.data)
    return _as_text(data.get("project")) or _as_text(data.get("projectName"))


def _result(event: KeptnEvent) -> str:
    # The worst result any outcome field reports, so that what a message calls failed is a failure everywhere.
    return result_of(event.data)


def _label(name: str) -> Reader:
    def read(event: KeptnEvent) -> str:
        return event.labels.get(name, "")

    return read


FIELDS: Final[Mapping[str, Reader]] = MappingProxyType(
    {
        "type": attrgetter("type"),
        "source": attrgetter("source"),
        "subject": _attribute("subject"),
        "shkeptncontext": _attribute("shkeptncontext"),
        "project": _project,
        "stage": _data("stage"),
        "service": _data("service"),
        "result": _result,
        # `data.status`, lower case: whether the task ran (succeeded, errored, aborted, unknown).
        "status": attrgetter("status"),
        "message": _data("message"),
    }
)


def label_name(name: str) -> str | None:
    """The label a field name reads (`label:team` or `labels.team` -> `team`), else None."""
    for prefix in LABEL_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return None


def field_reader(name: str) -> Reader:
    """The reader of a field name as a user writes it; UnknownField says which names exist and the closest."""
    reader = FIELDS.get(name)
    if reader is not None:
        return reader
    label = label_name(name)
    if label:
        return _label(label)
    guess = closest_field(name)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    raise UnknownField(
        f"unknown field {name!r}{hint}: use {', '.join(FIELDS)} "
        "or label:<name> (e.g. label:team; labels.<name> works too)"
    )


def closest_field(name: str) -> str | None:
    """The field a misspelt name most likely meant: `projcet` -> `project`; `lable:team` -> `label:team`."""
    head, separator, rest = name.partition(":") if ":" in name else name.partition(".")
    if separator and rest and closest(head, ("label", "labels")):
        return f"label:{rest}"
    return closest(name, FIELDS)


def canonical(name: str) -> str:
    """One spelling per field, to tell that two names read the same thing (`labels.team` is `label:team`)."""
    label = label_name(name)
    return name if label is None else f"label:{label}"
