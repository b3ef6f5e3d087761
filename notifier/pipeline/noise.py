"""The pipeline stage between route and silence: gives each target of a noisy route its noise plan.

The decision itself is made in the store's accept transaction (noise/memory.py), with the memory the store keeps
for the route and channel: so two events at once cannot both pass a repeat, and a restart forgets nothing. This
stage only works out what the decision needs of the event: the route's rules and the repeat key. A route
without noise control passes through untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from notifier.config.routes import RouteConfig
from notifier.keptn.events import KeptnEvent
from notifier.noise.decide import repeat_key_of
from notifier.noise.memory import NoisePlan
from notifier.noise.rules import NoiseRules
from notifier.pipeline.routing import Target


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
        return replace(target, noise=NoisePlan(rules, key))
