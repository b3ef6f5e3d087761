"""The pipeline stage between route and accept: gives each target of a noisy route its noise-control decision.

The decision itself is made by the store, inside the transaction that stores the notification, with the memory
it keeps (the last send of the repeat key, the digest window): so two events at once cannot both pass a repeat,
and a restart forgets nothing. This stage only says what to look up (the repeat key) and how to decide
(`noise.decide` on the route's rules). A route without noise control passes through untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial

import orjson

from notifier.config.load import RouteConfig
from notifier.keptn.events import KeptnEvent
from notifier.noise.decide import Action, DigestWindow, decide, repeat_key_of
from notifier.noise.rules import NoiseRules
from notifier.pipeline.routing import Target
from notifier.store import Noise, NoiseVerdict


class NoiseStage:
    def __init__(self, routes: Sequence[RouteConfig]) -> None:
        self._rules: dict[str, NoiseRules] = {route.name: route for route in routes if route.active}

    def __call__(self, event: KeptnEvent, targets: Sequence[Target]) -> Sequence[Target]:
        if not self._rules:
            return targets
        return [self._attach(event, target) for target in targets]

    def _attach(self, event: KeptnEvent, target: Target) -> Target:
        rules = self._rules.get(target.route)
        if rules is None:
            return target
        key = repeat_key_of(event, rules.repeat_key) if rules.repeat_interval is not None else None
        return replace(target, noise=Noise(key, partial(verdict, rules)))


def verdict(rules: NoiseRules, now: float, last_sent_at: float | None, window: bytes | None) -> NoiseVerdict:
    """`noise.decide` in the store's terms: the window as stored bytes, the hold as its word."""
    decision = decide(rules, now, last_sent_at, decode_window(window))
    encoded = None if decision.window is None else encode_window(decision.window)
    if decision.action is Action.SUPPRESS:
        return NoiseVerdict(keep=False, window=encoded)
    sent_until = None if rules.repeat_interval is None else now + rules.repeat_interval
    if decision.action is Action.HOLD and decision.hold is not None and decision.release_at is not None:
        return NoiseVerdict(True, str(decision.hold), decision.release_at, encoded, sent_until)
    return NoiseVerdict(True, window=encoded, sent_until=sent_until)


def encode_window(window: DigestWindow) -> bytes:
    return orjson.dumps([window.start, window.end, window.count])


def decode_window(stored: bytes | None) -> DigestWindow | None:
    """None for no window, and for one this release cannot read (a new window opens: nothing is held wrongly)."""
    if stored is None:
        return None
    try:
        start, end, count = orjson.loads(stored)
        return DigestWindow(float(start), float(end), int(count))
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
