"""Why `serve` would notify nobody of an event, in one line: `replay` lists it per file, `render` notes it."""

from __future__ import annotations

from dataclasses import dataclass

from notifier.config.load import Settings
from notifier.keptn.events import KeptnEvent
from notifier.pipeline.routing import Router


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
