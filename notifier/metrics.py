"""Prometheus metrics, one registry per service instance (no global registry: tests run many services)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

PREFIX = "keptn_notifier"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_received = Counter(f"{PREFIX}_events_received", "Events received over any intake.", registry=r)
        self.events_accepted = Counter(
            f"{PREFIX}_events_accepted", "Events stored with at least one notification.", registry=r
        )
        self.events_ignored = Counter(
            f"{PREFIX}_events_ignored", "Well-formed events that no subscription or route wants.", registry=r
        )
        self.events_rejected = Counter(
            f"{PREFIX}_events_rejected",
            "Requests and NATS messages refused as malformed, too large or unauthorised, or lost (core NATS).",
            ["reason"],
            registry=r,
        )
        self.intake_retries = Counter(
            f"{PREFIX}_intake_retries",
            "NATS messages given back for a later redelivery because the store could not take them.",
            registry=r,
        )
        self.events_deduplicated = Counter(
            f"{PREFIX}_events_deduplicated",
            "Events dropped because the same source and id was seen.",
            registry=r,
        )
        self.notifications_sent = Counter(
            f"{PREFIX}_notifications_sent", "Notifications the platform accepted.", ["channel"], registry=r
        )
        self.notifications_failed = Counter(
            f"{PREFIX}_notifications_failed",
            "Failed send attempts (retried or dead).",
            ["channel", "reason"],
            registry=r,
        )
        self.notifications_retried = Counter(
            f"{PREFIX}_notifications_retries", "Send attempts scheduled again.", ["channel"], registry=r
        )
        self.notifications_dead = Counter(
            f"{PREFIX}_notifications_dead",
            "Notifications parked as dead letters.",
            ["channel", "reason"],
            registry=r,
        )
        self.notifications_suppressed = Counter(
            f"{PREFIX}_notifications_suppressed",
            "Notifications not sent as a repeat (repeat_interval); no summary of them is sent.",
            ["route", "channel"],
            registry=r,
        )
        self.notifications_held = Counter(
            f"{PREFIX}_notifications_held",
            "Notifications held for a digest (digest window or quiet hours).",
            ["route", "channel"],
            registry=r,
        )
        self.notifications_silenced = Counter(
            f"{PREFIX}_notifications_silenced",
            "Notifications not sent because a silence muted them; each silence's summary counts them too.",
            ["route", "channel"],
            registry=r,
        )
        self.template_failures = Counter(
            f"{PREFIX}_template_failures",
            "Renders that fell back to the plain message.",
            ["template"],
            registry=r,
        )
        self.queue_depth = Gauge(
            f"{PREFIX}_queue_depth", "Notifications waiting in the outbox.", ["channel"], registry=r
        )
        self.oldest_pending_age = Gauge(
            f"{PREFIX}_oldest_pending_age_seconds",
            "Age of the oldest waiting notification.",
            ["channel"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            f"{PREFIX}_delivery_latency_seconds",
            "From accepting an event to the platform's 2xx.",
            ["channel"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 86400),
            registry=r,
        )
        self.store_writable = Gauge(f"{PREFIX}_store_writable", "1 while the state store accepts writes.", registry=r)
        self.config_last_reload_successful = Gauge(
            f"{PREFIX}_config_last_reload_successful",
            "1 when the last load of the config and templates (start-up or reload) applied whole, else 0.",
            registry=r,
        )
        self.config_last_reload_success_timestamp = Gauge(
            f"{PREFIX}_config_last_reload_success_timestamp_seconds",
            "When the config and templates last loaded and applied whole.",
            registry=r,
        )
        self.config_info = Gauge(
            f"{PREFIX}_config_info",
            "1 for the SHA-256 of the config file and template files in force.",
            ["hash"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
