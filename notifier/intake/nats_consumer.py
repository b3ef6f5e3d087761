"""The NATS intake's durable consumer on Keptn's stream: the settings it is created with, and the check that
one found on the server is the same, so that a consumer left by another setup never quietly decides what comes.
"""

from __future__ import annotations

from collections.abc import Sequence

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

# How long a message may stay unacked before the server hands it out again (the store answers in milliseconds).
ACK_WAIT = 30.0
# Messages out at once across every replica of the consumer.
MAX_ACK_PENDING = 1024


def consumer_config(name: str, subjects: Sequence[str]) -> ConsumerConfig:
    """Deliver policy `new`: Keptn's stream keeps every event since it was made, and `all` would send them all
    again. No limit on redeliveries: a message is only given back when the store failed, and is never lost."""
    return ConsumerConfig(
        name=name,
        durable_name=name,
        description="keptn-notifier: Keptn events for notifications (NATS_CONSUMER)",
        deliver_policy=DeliverPolicy.NEW,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ACK_WAIT,
        max_deliver=-1,
        max_ack_pending=MAX_ACK_PENDING,
        filter_subjects=list(subjects),
    )


def _filters(config: ConsumerConfig) -> list[str]:
    if config.filter_subjects:
        return sorted(config.filter_subjects)
    return [config.filter_subject] if config.filter_subject else []


def consumer_difference(have: ConsumerConfig, want: ConsumerConfig) -> str | None:
    """The first way in which an existing consumer differs from what the settings ask for, in words and with the
    setting behind it; None when it will do."""
    if have.deliver_subject:
        return "it is a push consumer, and this service reads a pull consumer (NATS_CONSUMER)"
    if _filters(have) != _filters(want):
        shown = ", ".join(_filters(have)) or "every subject"
        return f"its filter subjects are {shown} but PUBSUB_TOPIC asks for {', '.join(_filters(want))}"
    if _value(have.ack_policy) != _value(AckPolicy.EXPLICIT):
        return f"its ack policy is {_value(have.ack_policy)}, and this service acks each message (explicit)"
    if _value(have.deliver_policy) == _value(DeliverPolicy.ALL):
        return "its deliver policy is all, which replays the whole stream; this service creates it with new"
    return None


def _value(value: object) -> object:
    return getattr(value, "value", value)
