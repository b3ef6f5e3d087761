"""The NATS intake's consumer: what it is created with, and which existing consumer it refuses and why."""

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from notifier.intake.nats_consumer import consumer_config, consumer_difference

SUBJECTS = ["sh.keptn.event.*.*.finished", "sh.keptn.event.evaluation.finished"]


def test_it_is_a_durable_pull_consumer_with_deliver_policy_new_and_explicit_acks() -> None:
    config = consumer_config("keptn-notifier", SUBJECTS)
    assert config.durable_name == config.name == "keptn-notifier"
    assert config.deliver_policy == DeliverPolicy.NEW and config.ack_policy == AckPolicy.EXPLICIT
    assert config.deliver_subject is None and config.filter_subjects == SUBJECTS
    assert config.max_deliver == -1  # given back only when the store failed: never given up


def test_the_same_consumer_as_the_server_describes_it_will_do() -> None:
    # The server answers with its own defaults filled in and the subjects in any order.
    have = ConsumerConfig(
        name="keptn-notifier",
        durable_name="keptn-notifier",
        deliver_policy=DeliverPolicy.NEW,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=60.0,
        max_ack_pending=1000,
        filter_subjects=list(reversed(SUBJECTS)),
    )
    assert consumer_difference(have, consumer_config("keptn-notifier", SUBJECTS)) is None


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"filter_subjects": None, "filter_subject": "sh.keptn.>"}, "filter subjects are sh.keptn.> but PUBSUB_TOPIC"),
        ({"filter_subjects": None}, "filter subjects are every subject"),
        ({"deliver_subject": "push.here"}, "push consumer"),
        ({"ack_policy": AckPolicy.NONE}, "ack policy is none"),
        ({"deliver_policy": DeliverPolicy.ALL}, "deliver policy is all"),
    ],
)
def test_a_consumer_with_other_settings_is_refused_naming_the_setting(change: dict[str, object], said: str) -> None:
    want = consumer_config("keptn-notifier", SUBJECTS)
    have = ConsumerConfig(**{**want.__dict__, **change})
    why = consumer_difference(have, want)
    assert why is not None and said in why
