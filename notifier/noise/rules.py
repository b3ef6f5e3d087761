"""A route's noise-control settings: `repeat_interval` with `repeat_key`, `digest` and `quiet_hours`.

Parsed and validated once, at start-up, like the rest of the configuration; each is off unless configured.
`RouteConfig` gets them by inheriting `NoiseRules`, so the keys sit on the route itself, as users write them:

    routes:
      - name: prod
        repeat_interval: 10m
        digest: {after: 5, window: 5m}
        quiet_hours: {from: "22:00", to: "07:00", timezone: Europe/Vienna}
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from datetime import time
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from notifier.keptn.fields import canonical, field_reader
from notifier.units import comma_list, parse_duration

# A repeat key may be made of any field of notifier.keptn.fields (CloudEvent attributes, Keptn's common data
# fields, labels). Never `id`, `time` or anything else that differs between two copies of the same news (Flux #509).
DEFAULT_REPEAT_KEY: Final = ("type", "project", "stage", "service", "result")
# Fields that differ in every event (triggeredid: in every task run): a key with one of them would never repeat.
_UNIQUE_FIELDS: Final = frozenset({"id", "time", "triggeredid"})
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be longer than zero (got {value!r}); leave the key out to turn this off")
    return seconds


class DigestRule(BaseModel):
    """`digest: {after: 5, window: 5m}`: past `after` notifications in one window, hold the rest for a digest."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    after: int
    window: float

    @field_validator("after", mode="before")
    @classmethod
    def _whole(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be a whole number of notifications, e.g. 5")
        return value

    @field_validator("after")
    @classmethod
    def _after(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1 (got {value}): how many are sent one by one before the rest wait")
        return value

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: object) -> float:
        return _duration(value)


class QuietHours(BaseModel):
    """`quiet_hours: {from: "22:00", to: "07:00", timezone: Europe/Vienna}`: local wall-clock times."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    start: time = Field(alias="from")
    end: time = Field(alias="to")
    timezone: str

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, value: object) -> time:
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 22:00 as the base-60 number 1320.
            raise ValueError(f'write the time in quotes, e.g. "22:00" (unquoted, YAML reads it as the number {value})')
        match = _CLOCK.match(value.strip()) if isinstance(value, str) else None
        if not match:
            raise ValueError(f'{value!r} is not a time of day: write "HH:MM" in quotes, e.g. "22:00" or "07:00"')
        return time(int(match.group(1)), int(match.group(2)))

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        name = value.strip()
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(_unknown_zone(name)) from None
        return name

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("'from' and 'to' are the same time: give the start and the end of the quiet period")
        return self

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        # ZoneInfo caches its instances by key: this is a lookup, not a file read.
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def describe(self) -> str:
        return f"{self.start:%H:%M}\N{EN DASH}{self.end:%H:%M} {self.timezone}"


def _unknown_zone(name: str) -> str:
    names = zoneinfo.available_timezones()
    by_case = {zone.lower(): zone for zone in names}
    guess = by_case.get(name.lower()) or next(iter(difflib.get_close_matches(name, names, n=1)), None)
    hint = f"did you mean {guess}? " if guess else ""
    return f"{name!r} is not an IANA time zone; {hint}Names look like Europe/Vienna, America/New_York or UTC"


class NoiseRules(BaseModel):
    """The noise-control keys of a route. Every one is off unless configured."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    repeat_interval: float | None = None
    repeat_key: tuple[str, ...] = DEFAULT_REPEAT_KEY
    digest: DigestRule | None = None
    quiet_hours: QuietHours | None = None

    @field_validator("repeat_interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> float | None:
        return None if value is None else _duration(value)

    @field_validator("repeat_key", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return comma_list(value)

    @field_validator("repeat_key")
    @classmethod
    def _keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(f"is empty: leave it out for the default [{', '.join(DEFAULT_REPEAT_KEY)}]")
        for name in value:
            if name in _UNIQUE_FIELDS:
                raise ValueError(
                    f"{name!r} differs in every event, so nothing would ever repeat: "
                    f"use fields that say what happened, e.g. [{', '.join(DEFAULT_REPEAT_KEY)}]"
                )
            field_reader(name)  # raises for an unknown name, with the names it knows
        # `labels.team` and `label:team` read the same label.
        names = [canonical(name) for name in value]
        repeated = sorted({name for name in value if names.count(canonical(name)) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed twice: name each field once")
        return value

    @model_validator(mode="after")
    def _key_needs_interval(self) -> NoiseRules:
        if "repeat_key" in self.model_fields_set and self.repeat_interval is None:
            raise ValueError("repeat_key has no effect without repeat_interval: add e.g. repeat_interval: 10m")
        return self

    @property
    def active(self) -> bool:
        """False for the common route with no noise control: callers skip every lookup."""
        return self.repeat_interval is not None or self.digest is not None or self.quiet_hours is not None
