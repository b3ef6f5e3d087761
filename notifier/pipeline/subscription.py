"""Stage 2 of the pipeline: the events this service subscribes to at all, before any route looks at them.

The distributor's own rules, applied here for every intake: `PUBSUB_TOPIC` (NATS subjects) and the
`PROJECT_FILTER`, `STAGE_FILTER`, `SERVICE_FILTER` comma lists, compared exactly.
"""

from __future__ import annotations

from collections.abc import Collection

from notifier.config.settings import Settings
from notifier.keptn.events import KeptnEvent
from notifier.keptn.fields import field_reader
from notifier.keptn.subjects import SubjectSet


class Subscription:
    def __init__(
        self,
        topic: SubjectSet,
        projects: Collection[str] = (),
        stages: Collection[str] = (),
        services: Collection[str] = (),
    ) -> None:
        """An empty filter lets every value through, as the distributor's does."""
        self.topic = topic
        # Only the filters that are set: an empty one passes everything, so its field need not be read at all.
        filters = (("project", frozenset(projects)), ("stage", frozenset(stages)), ("service", frozenset(services)))
        self._filters = tuple((label, field_reader(label), allowed) for label, allowed in filters if allowed)

    @classmethod
    def from_settings(cls, settings: Settings) -> Subscription:
        return cls(settings.subscription, settings.project_filter, settings.stage_filter, settings.service_filter)

    def rejection(self, event: KeptnEvent) -> str | None:
        """Why the event is not wanted at all, or None when it is."""
        if not self.topic.matches(event.type):
            return f"type {event.type} is not subscribed (PUBSUB_TOPIC={self.topic})"
        for label, field, allowed in self._filters:
            actual = field(event)
            if actual not in allowed:
                return f"{label} {actual or '(none)'!r} is filtered out by {label.upper()}_FILTER"
        return None
