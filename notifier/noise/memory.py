"""Noise control's memory of one route and channel, kept by the store as one document, and the decision that
reads and writes it inside accept's transaction.

The store keeps the document opaque and calls `decider(...)`'s function with it; everything noise control knows
(what a repeat is, when a digest holds, how a held notification waits for its digest) is here and in decide.py,
written once for every backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import orjson

from notifier.noise.decide import Action, DigestWindow, decide
from notifier.noise.rules import NoiseRules
from notifier.store.protocol import Decide, Outgoing


@dataclass(frozen=True, slots=True)
class NoisePlan:
    """What noise control needs of one notification: its route's rules and its repeat key (None: no repeats)."""

    rules: NoiseRules
    key: str | None


@dataclass(frozen=True, slots=True)
class RepeatMark:
    """A repeat key's last send: when, until when it suppresses, and by which event.

    A replica that died between deciding and storing leaves the mark of an event that is then delivered again;
    deciding that event again must not find it a repeat of itself.
    """

    sent: float
    until: float
    by: str


@dataclass(frozen=True, slots=True)
class NoiseMemory:
    window: DigestWindow | None = None
    repeats: Mapping[str, RepeatMark] = field(default_factory=lambda: MappingProxyType({}))

    def encode(self) -> bytes:
        window = self.window
        return orjson.dumps(
            {
                "window": None if window is None else [window.start, window.end, window.count],
                "repeats": {key: [mark.sent, mark.until, mark.by] for key, mark in self.repeats.items()},
            }
        )

    @classmethod
    def decode(cls, stored: bytes | None) -> NoiseMemory:
        """Empty for no document, and for one this release cannot read (a new window opens, no repeat is
        suppressed: nothing is held or dropped wrongly)."""
        if stored is None:
            return cls()
        try:
            document = orjson.loads(stored)
            raw = document.get("window")
            window = None if raw is None else DigestWindow(float(raw[0]), float(raw[1]), int(raw[2]))
            repeats = {
                str(key): RepeatMark(float(mark[0]), float(mark[1]), str(mark[2]))
                for key, mark in document.get("repeats", {}).items()
            }
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError, IndexError):
            return cls()
        return cls(window, MappingProxyType(repeats))


def memo_key(route: str, channel: str) -> str:
    """The document of a route and channel; a store maps it to whatever keys it can keep."""
    return f"noise\x1f{route}\x1f{channel}"


def decider(plan: NoisePlan, event: str, outgoing: Outgoing) -> Outgoing:
    """`outgoing` with the decision the store makes in accept's transaction; `event` is the event's dedup key."""
    return replace(outgoing, memo=memo_key(outgoing.route, outgoing.channel), decide=_decide(plan, event, outgoing))


def _decide(plan: NoisePlan, event: str, outgoing: Outgoing) -> Decide:
    rules, key = plan.rules, plan.key
    plain = replace(outgoing, memo="", decide=None)

    def decide_with(stored: bytes | None, now: float) -> tuple[bytes | None, Outgoing | None]:
        memory = NoiseMemory.decode(stored)
        repeats = {name: mark for name, mark in memory.repeats.items() if mark.until >= now}
        mark = None if key is None else repeats.get(key)
        last = None if mark is None or mark.by == event else mark.sent
        decision = decide(rules, now, last, memory.window)
        if key is not None and rules.repeat_interval is not None and decision.counts_as_sent:
            repeats[key] = RepeatMark(now, now + rules.repeat_interval, event)
        after = NoiseMemory(decision.window, MappingProxyType(repeats))
        document = None if after == memory else after.encode()
        if decision.action is Action.SUPPRESS:
            return document, None
        if decision.action is Action.HOLD and decision.hold is not None and decision.release_at is not None:
            # Held for its digest, which holds every notification of the route and channel due at that time; never
            # ordered in its run, so that it does not hold up the run's thread meanwhile.
            due = decision.release_at
            group = group_key(outgoing.route, due)
            held = replace(plain, due=due, group=group, order="", broadcast=False, note=str(decision.hold))
            return document, held
        return document, plain

    return decide_with


def group_key(route: str, due: float) -> str:
    """The digest a held notification waits for: its route's, at its release time (to the microsecond)."""
    return f"{route}@{math.floor(due * 1_000_000)}"
