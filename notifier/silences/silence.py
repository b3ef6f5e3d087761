"""A silence: matchers that must all hold, a time span, who added it and why; made once, checked at the edge.

`new_silence` is the one place a silence is made from what a person gave (the CLI and the HTTP API both call it),
with the guards: a matcher list that matches everything needs `all`, the end must be ahead and after the start,
and no silence lasts longer than `silence_max_duration`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from notifier.keptn.events import KeptnEvent
from notifier.noise.decide import format_span
from notifier.silences.matchers import Matcher, MatcherError, parse_matcher
from notifier.store.protocol import SilenceRecord
from notifier.units import parse_duration


class SilenceError(ValueError):
    """A silence that cannot be added; the text says what is wrong and what to do."""


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    # Wall seconds: it mutes from `starts` until just before `ends`.
    starts: float
    ends: float
    created_by: str
    comment: str
    # No summary when it ends.
    drop: bool = False
    summarised: bool = False

    def active(self, now: float) -> bool:
        return state_of(self.starts, self.ends, now) == "active"

    def matches(self, event: KeptnEvent, channel: str, route: str) -> bool:
        """Whether every matcher holds for the event sent to `channel` by `route` (whatever the time)."""
        return all(matcher.matches(event, channel, route) for matcher in self.matchers)

    @property
    def written(self) -> tuple[str, ...]:
        return tuple(str(matcher) for matcher in self.matchers)

    def record(self) -> SilenceRecord:
        return SilenceRecord(
            self.id, self.written, self.starts, self.ends, self.created_by, self.comment, self.drop, self.summarised
        )

    @classmethod
    def of(cls, record: SilenceRecord) -> Silence:
        """A stored silence; raises SilenceError for matchers this release cannot read."""
        return cls(
            record.id,
            _matchers(record.matchers),
            record.starts,
            record.ends,
            record.created_by,
            record.comment,
            record.drop,
            record.summarised,
        )


def state_of(starts: float, ends: float, now: float) -> str:
    """`pending`, `active` or `expired` (Alertmanager's words): a silence mutes from its start until just before
    its end."""
    if now < starts:
        return "pending"
    return "active" if now < ends else "expired"


def muting(silences: Sequence[Silence], event: KeptnEvent, channel: str, route: str, now: float) -> Silence | None:
    """The first of `silences` that is active at `now` and mutes the event's notification to `channel` by `route`."""
    return next((s for s in silences if s.active(now) and s.matches(event, channel, route)), None)


def new_silence(
    matchers: Sequence[str],
    *,
    ends: float,
    created_by: str,
    comment: str,
    now: float,
    max_duration: float,
    starts: float | None = None,
    drop: bool = False,
    everything: bool = False,
    all_flag: str = "--all",
) -> Silence:
    """A new silence, or SilenceError with every guard it fails. `everything`: no matchers is meant (`all_flag`
    is how the caller's user asks for it, for the message); times are wall seconds."""
    problems: list[str] = []
    parsed: list[Matcher] = []
    for text in matchers:
        try:
            parsed.append(parse_matcher(text))
        except MatcherError as exc:
            problems.append(str(exc))
    if not matchers and not everything:
        problems.append(
            f"no matcher: it would mute every notification; give matchers such as stage=production, or {all_flag} "
            "to mute everything"
        )
    if not comment.strip():
        problems.append("no comment: say why the channel is muted (it is shown in the list and the summary)")
    if not created_by.strip():
        problems.append("no author: say who adds the silence")
    begin = now if starts is None else max(starts, now)
    if ends <= now:
        problems.append(f"it ends in the past ({timestamp(ends)}): give an end after now ({timestamp(now)})")
    elif ends <= begin:
        problems.append(f"it ends ({timestamp(ends)}) before it starts ({timestamp(begin)})")
    elif ends - begin > max_duration:
        problems.append(
            f"it would last {format_span(ends - begin)}, longer than silence_max_duration "
            f"({format_span(max_duration)}, NOTIFIER_SILENCE_MAX_DURATION): end it sooner, and add another when it "
            "ends if need be"
        )
    if problems:
        raise SilenceError("; ".join(problems))
    return Silence(str(uuid.uuid4()), tuple(parsed), begin, ends, created_by.strip(), comment.strip(), drop)


def _matchers(written: Sequence[str]) -> tuple[Matcher, ...]:
    try:
        return tuple(parse_matcher(text) for text in written)
    except MatcherError as exc:
        raise SilenceError(str(exc)) from None


def parse_when(text: str, now: float) -> float:
    """Wall seconds from an RFC 3339 time (`2026-11-20T18:00:00Z`) or a duration from now (`90m`, `2h`, `1d`)."""
    value = text.strip()
    try:
        return now + parse_duration(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SilenceError(
            f"{text!r} is neither a time nor a duration: write e.g. 2026-11-20T18:00:00Z (RFC 3339) or 90m, 2h, 1d"
        ) from None
    if moment.tzinfo is None:
        raise SilenceError(f"{text!r} has no time zone: add Z for UTC or an offset such as +01:00")
    return moment.timestamp()


def parse_span(text: str) -> float:
    """A silence's length (`90m`, `2h`, `1d`), more than nothing."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise SilenceError(str(exc)) from None
    if seconds <= 0:
        raise SilenceError(f"{text!r}: a silence must last more than nothing")
    return seconds


def timestamp(seconds: float) -> str:
    """RFC 3339 in UTC, to the second: how times are shown and answered."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def described(record: SilenceRecord) -> dict[str, Any]:
    """A silence in Alertmanager's field names, as listings and summaries show it."""
    return {
        "id": record.id,
        "matchers": list(record.matchers),
        "startsAt": timestamp(record.starts),
        "endsAt": timestamp(record.ends),
        "createdBy": record.created_by,
        "comment": record.comment,
    }
