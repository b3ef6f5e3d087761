"""What the pipeline would do with an event and why, for the tools: `routes`, `preview`, `replay`, `render`.

The service runs the stages themselves (pipeline.py); this runs subscription and routes in the same order and
keeps the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifier.config.load import Config
from notifier.config.settings import Settings
from notifier.keptn.events import KeptnEvent
from notifier.pipeline.routing import RouteCheck, Routes, Target
from notifier.pipeline.subscription import Subscription


class Router:
    """Subscription and routes together: what `keptn-notifier routes` shows, in the pipeline's order."""

    def __init__(self, config: Config) -> None:
        self.subscription = Subscription.from_settings(config.settings)
        self.routes = Routes(config.routes, config.channels)

    def rejection(self, event: KeptnEvent) -> str | None:
        """Why the event is not wanted at all (subscription and the distributor-style filters), or None."""
        return self.subscription.rejection(event)

    def targets(self, event: KeptnEvent) -> list[Target]:
        return [] if self.subscription.rejection(event) is not None else self.routes.targets(event)

    def explain(self, event: KeptnEvent) -> tuple[str | None, list[RouteCheck]]:
        rejection = self.subscription.rejection(event)
        return rejection, self.routes.checks(event, rejection)


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str
    # Refused by PUBSUB_TOPIC: the reason leaves out the (long) topic, for the caller to show once.
    unsubscribed: bool = False


def why_ignored(settings: Settings, router: Router, event: KeptnEvent) -> Ignored | None:
    """None when some route takes the event; else not subscribed, filtered out, or no route matches."""
    if router.targets(event):
        return None
    if not settings.subscription.matches(event.type):
        return Ignored("not subscribed (its type is not in PUBSUB_TOPIC)", unsubscribed=True)
    rejection, verdicts = router.explain(event)
    if rejection is not None:  # a *_FILTER
        return Ignored(rejection)
    return Ignored("no route matches (" + "; ".join(f"route {v.route}: {v.reason}" for v in verdicts) + ")")
