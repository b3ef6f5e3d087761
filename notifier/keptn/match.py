"""What an event must look like for a route (`match:`) or a mention (`when:`) to apply: the model and its test.

Its own module because config.py builds routes from it and mentions.py builds `when:` from it, and config.py
imports mentions.py: the model lives below both.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifier.keptn.events import KeptnEvent
from notifier.keptn.fields import Reader, field_reader
from notifier.keptn.payload import is_automatic_approval
from notifier.keptn.subjects import SubjectSet
from notifier.units import comma_list


class Match(BaseModel):
    """An event matches when every listed dimension matches (an empty list matches everything)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    types: list[str] = Field(default=["sh.keptn.>"], examples=[["sh.keptn.event.evaluation.finished"]])
    projects: list[str] = []
    stages: list[str] = []
    services: list[str] = []
    results: list[str] = []
    statuses: list[str] = []
    labels: dict[str, str] = Field(default={}, examples=[{"team": "payments"}])
    # An approval.triggered whose strategy is automatic needs nobody: posted only when a route asks for it.
    automatic_approvals: bool = False

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


# The dimensions of a Match in the order `miss` tries them: the field's name (notifier.keptn.fields, which also
# reads it off an event) and the Match's setting. `result` is the worst result the event reports.
_DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("project", "projects"),
    ("stage", "stages"),
    ("service", "services"),
    ("result", "results"),
    ("status", "statuses"),
)


@dataclass(frozen=True, slots=True)
class CompiledMatch:
    """A Match with its type patterns parsed once, at start-up, and only its set dimensions to test: an empty
    one matches everything, so the event's field for it is never read (routes usually set one or two)."""

    match: Match
    types: SubjectSet
    dimensions: tuple[tuple[str, list[str], Reader], ...]

    @classmethod
    def of(cls, match: Match) -> CompiledMatch:
        dimensions = tuple(
            (name, wanted, field_reader(name)) for name, setting in _DIMENSIONS if (wanted := getattr(match, setting))
        )
        return cls(match, SubjectSet.parse(match.types), dimensions)

    def miss(self, event: KeptnEvent) -> str | None:
        """Why the event does not match, or None when it does."""
        match = self.match
        if not self.types.matches(event.type):
            return f"type {event.type} is not in {self.types}"
        for label, wanted, read in self.dimensions:
            actual = read(event)
            if actual not in wanted:
                return f"{label} {actual or '(none)'!r} is not one of {', '.join(wanted)}"
        if match.labels:
            labels = event.labels
            for key, value in match.labels.items():
                if labels.get(key) != value:
                    return f"label {key!r} is {labels.get(key, '(absent)')!r}, not {value!r}"
        if not match.automatic_approvals and is_automatic_approval(event.type, event.data):
            return "an automatic approval needs nobody to act (set automatic_approvals: true in match to post it)"
        return None
