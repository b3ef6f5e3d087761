"""Noise control's decisions for one route and channel: send, suppress as a repeat, or hold for a digest.

Every function is pure: it gets the rules, the instant (`now`, wall-clock seconds since the epoch, from the
caller's clock) and the little that must be remembered (when a repeat key was last sent, the digest window),
and returns the decision with what to remember next. The store keeps that memory; `NoiseState` keeps it in
memory, for tests and as the reference for what the store must persist.

The order: a repeat is suppressed first (it is not news, so it neither counts towards a digest nor shows in
one); then quiet hours hold; then the digest window counts and holds past `after`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

import orjson

from notifier.keptn.events import KeptnEvent
from notifier.keptn.fields import field_reader
from notifier.noise.quiet_hours import is_quiet, quiet_ends_at
from notifier.noise.rules import DigestRule, NoiseRules


def repeat_key_fields(event: KeptnEvent, keys: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The (field, value) pairs a repeat key is made of, each read as routes read it (notifier.keptn.fields);
    a missing field is the empty string. The name is kept as written: it is part of the stored key."""
    return tuple((name, field_reader(name)(event)) for name in keys)


def repeat_key_of(event: KeptnEvent, keys: Sequence[str]) -> str:
    """A stable 64-character key: the same in every process and release, for events that agree on `keys`.

    Only the named fields go in, so an event's id, time or temporary data never make two notifications differ.
    """
    encoded = orjson.dumps(repeat_key_fields(event, keys))
    return hashlib.sha256(encoded).hexdigest()


def suppress(last_sent_at: float | None, now: float, interval: float) -> bool:
    """Whether a notification is a repeat of one sent at `last_sent_at`.

    The window is measured from the last notification sent, not the last suppressed, so a condition that goes
    on is reported again every `interval`. A clock stepped back keeps suppressing for at most one interval.
    """
    return last_sent_at is not None and abs(now - last_sent_at) < interval


@dataclass(frozen=True, slots=True)
class DigestWindow:
    """A fixed window that opens with the first notification to a channel: [start, end), and how many came."""

    start: float
    end: float
    count: int


def digest_window(current: DigestWindow | None, now: float, rule: DigestRule) -> DigestWindow:
    """The window a notification arriving at `now` falls in, counting it; a new one when none is open."""
    if current is None or not current.start <= now < current.end:
        return DigestWindow(start=now, end=now + rule.window, count=1)
    return replace(current, count=current.count + 1)


def digest_holds(window: DigestWindow, rule: DigestRule) -> bool:
    return window.count > rule.after


class Action(StrEnum):
    SEND = "send"
    SUPPRESS = "suppress"
    HOLD = "hold"


class HoldReason(StrEnum):
    DIGEST = "digest"
    QUIET_HOURS = "quiet_hours"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    # What to say in logs and `keptn-notifier routes`.
    explanation: str
    # The digest window to remember for the route and channel (unchanged unless the digest counted this one).
    window: DigestWindow | None = None
    hold: HoldReason | None = None
    # When a held notification goes out, in its digest.
    release_at: float | None = None

    @property
    def counts_as_sent(self) -> bool:
        """Record the repeat key as sent now: a held notification will be reported, in its digest."""
        return self.action is not Action.SUPPRESS


def decide(
    rules: NoiseRules,
    now: float,
    last_sent_at: float | None = None,
    window: DigestWindow | None = None,
) -> Decision:
    """What to do with one notification of a route to a channel.

    `last_sent_at`: when this notification's repeat key (`repeat_key_of(event, rules.repeat_key)`) was last
    sent to the channel by the route, or None. `window`: the route and channel's digest window, or None.
    """
    interval = rules.repeat_interval
    if interval is not None and last_sent_at is not None and suppress(last_sent_at, now, interval):
        return Decision(
            Action.SUPPRESS,
            f"repeat: the same {', '.join(rules.repeat_key)} was sent {format_span(abs(now - last_sent_at))} ago "
            f"(repeat_interval {format_span(interval)})",
            window=window,
        )
    quiet = rules.quiet_hours
    if quiet is not None and is_quiet(now, quiet):
        until = quiet_ends_at(now, quiet)
        return Decision(
            Action.HOLD,
            f"held: quiet hours {quiet.describe()} until {_local(until, quiet.zone)}",
            window=window,
            hold=HoldReason.QUIET_HOURS,
            release_at=until,
        )
    if rules.digest is not None:
        window = digest_window(window, now, rules.digest)
        if digest_holds(window, rules.digest):
            # A digest that would go out in quiet hours waits for their end, with whatever they held.
            release_at = quiet_ends_at(window.end, quiet) if quiet is not None else window.end
            return Decision(
                Action.HOLD,
                f"held for a digest: {window.count} notifications in the window opened "
                f"{format_span(now - window.start)} ago, more than {rules.digest.after} within "
                f"{format_span(rules.digest.window)}",
                window=window,
                hold=HoldReason.DIGEST,
                release_at=release_at,
            )
    return Decision(Action.SEND, "sent", window=window)


def hold_reason(rules: NoiseRules, reason: HoldReason) -> str:
    """The phrase a digest message gives for why it holds what it holds."""
    if reason is HoldReason.QUIET_HOURS and rules.quiet_hours is not None:
        return f"during quiet hours ({rules.quiet_hours.describe()})"
    if reason is HoldReason.DIGEST and rules.digest is not None:
        return f"after more than {rules.digest.after} within {format_span(rules.digest.window)}"
    return "by noise control"


def describe(rules: NoiseRules, now: float) -> list[str]:
    """One line per configured setting, for `keptn-notifier routes`: when the route would suppress or hold."""
    lines = []
    if rules.repeat_interval is not None:
        span = format_span(rules.repeat_interval)
        lines.append(
            f"repeat_interval {span}: not sent again when a notification with the same "
            f"{', '.join(rules.repeat_key)} was sent to the channel in the last {span}"
        )
    if rules.digest is not None:
        lines.append(
            f"digest: past {rules.digest.after} notifications to one channel within "
            f"{format_span(rules.digest.window)}, the rest are held for one digest at the window's end"
        )
    quiet = rules.quiet_hours
    if quiet is not None:
        state = (
            f"quiet now, held until {_local(quiet_ends_at(now, quiet), quiet.zone)}"
            if is_quiet(now, quiet)
            else "not quiet now"
        )
        lines.append(f"quiet_hours {quiet.describe()}: {state}")
    return lines


def format_span(seconds: float) -> str:
    """`45s`, `10m`, `1h 30m`, `2d 3h`: the two largest units, rounded down."""
    whole = max(0, int(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size or (unit == "s" and not parts):
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return " ".join(parts[:2])


def _local(instant: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(instant, zone).strftime("%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True, slots=True)
class Held:
    event: KeptnEvent
    reason: HoldReason
    release_at: float


@dataclass(frozen=True, slots=True)
class DueDigest:
    """Held notifications that go out together, as one digest."""

    release_at: float
    # Quiet hours when any of them was held for quiet hours (a digest that fell into them joined theirs).
    reason: HoldReason
    events: tuple[KeptnEvent, ...]


@dataclass
class NoiseState:
    """One route and channel's noise memory in process: exactly what the store integration must persist."""

    rules: NoiseRules
    last_sent: dict[str, float] = field(default_factory=dict)
    window: DigestWindow | None = None
    held: list[Held] = field(default_factory=list)

    def offer(self, event: KeptnEvent, now: float) -> Decision:
        key = repeat_key_of(event, self.rules.repeat_key) if self.rules.repeat_interval is not None else None
        decision = decide(self.rules, now, self.last_sent.get(key) if key else None, self.window)
        self.window = decision.window
        if key is not None and decision.counts_as_sent:
            self.last_sent[key] = now
        if decision.hold is not None and decision.release_at is not None:
            self.held.append(Held(event, decision.hold, decision.release_at))
        return decision

    def due(self, now: float) -> list[DueDigest]:
        """Takes the held notifications whose time has come, one DueDigest per release instant, oldest first."""
        ready: dict[float, list[Held]] = {}
        for item in self.held:
            if item.release_at <= now:
                ready.setdefault(item.release_at, []).append(item)
        self.held = [item for item in self.held if item.release_at > now]
        return [_release(at, items) for at, items in sorted(ready.items())]

    def forget(self, now: float) -> int:
        """Drops repeat keys whose interval is over (they can no longer suppress); returns how many."""
        interval = self.rules.repeat_interval
        if interval is None:
            dropped = len(self.last_sent)
            self.last_sent.clear()
            return dropped
        stale = [key for key, sent in self.last_sent.items() if not suppress(sent, now, interval)]
        for key in stale:
            del self.last_sent[key]
        return len(stale)


def _release(at: float, items: Sequence[Held]) -> DueDigest:
    quiet = any(item.reason is HoldReason.QUIET_HOURS for item in items)
    return DueDigest(at, HoldReason.QUIET_HOURS if quiet else HoldReason.DIGEST, tuple(item.event for item in items))
