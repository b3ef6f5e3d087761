"""What an event must look like for a route (`match:`) or a mention (`when:`) to apply: the model and its test.

Its own module because config.py builds routes from it and mentions.py builds `when:` from it, and config.py
imports mentions.py: the model lives below both.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, field_validator

from notifier.events import KeptnEvent
from notifier.subjects import SubjectSet


def comma_list(value: object) -> object:
    """`"a, b"` as `["a", "b"]`: list settings may be written as one comma-separated string."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Match(BaseModel):
    """An event matches when every listed dimension matches (an empty list matches everything)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    types: list[str] = ["sh.keptn.>"]
    projects: list[str] = []
    stages: list[str] = []
    services: list[str] = []
    results: list[str] = []
    statuses: list[str] = []
    labels: dict[str, str] = {}

    @field_validator("types", "projects", "stages", "services", "results", "statuses", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return comma_list(value)

    @field_validator("types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        SubjectSet.parse(value)
        return value

    @field_validator("results", "statuses")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [item.lower() for item in value]


@dataclass(frozen=True, slots=True)
class CompiledMatch:
    """A Match with its type patterns parsed once, at start-up."""

    match: Match
    types: SubjectSet

    @classmethod
    def of(cls, match: Match) -> CompiledMatch:
        return cls(match, SubjectSet.parse(match.types))

    def miss(self, event: KeptnEvent) -> str | None:
        """Why the event does not match, or None when it does."""
        match = self.match
        if not self.types.matches(event.type):
            return f"type {event.type} is not in {self.types}"
        for label, wanted, actual in (
            ("project", match.projects, event.project),
            ("stage", match.stages, event.stage),
            ("service", match.services, event.service),
            ("result", match.results, event.result),
            ("status", match.statuses, event.status),
        ):
            if wanted and actual not in wanted:
                return f"{label} {actual or '(none)'!r} is not one of {', '.join(wanted)}"
        labels = event.labels
        for key, value in match.labels.items():
            if labels.get(key) != value:
                return f"label {key!r} is {labels.get(key, '(absent)')!r}, not {value!r}"
        return None
