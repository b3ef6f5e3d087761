"""The pipeline's second stage: PUBSUB_TOPIC and the distributor's *_FILTER lists, before any route."""

from notifier.config.settings import Settings
from notifier.keptn.events import event_from_mapping
from notifier.keptn.subjects import SubjectSet
from notifier.pipeline.subscription import Subscription


def event(type_: str = "sh.keptn.event.evaluation.finished", **data: object):
    return event_from_mapping({"specversion": "1.0", "id": "1", "source": "s", "type": type_, "data": data})


def test_a_type_outside_the_topic_is_refused_naming_the_topic() -> None:
    subscription = Subscription(SubjectSet.parse("sh.keptn.event.*.finished"))
    assert subscription.rejection(event("sh.keptn.event.evaluation.finished")) is None
    assert subscription.rejection(event("sh.keptn.event.dev.delivery.finished")) == (
        "type sh.keptn.event.dev.delivery.finished is not subscribed (PUBSUB_TOPIC=sh.keptn.event.*.finished)"
    )


def test_each_filter_compares_exactly_and_an_empty_one_lets_everything_through() -> None:
    subscription = Subscription(SubjectSet.parse("sh.keptn.>"), projects=["sockshop"], services=["carts"])
    assert subscription.rejection(event(project="sockshop", stage="anything", service="carts")) is None
    assert subscription.rejection(event(project="Sockshop", service="carts")) == (
        "project 'Sockshop' is filtered out by PROJECT_FILTER"
    )
    assert subscription.rejection(event(project="sockshop")) == "service '(none)' is filtered out by SERVICE_FILTER"


def test_the_topic_comes_before_the_filters() -> None:
    subscription = Subscription(SubjectSet.parse("sh.keptn.event.*.finished"), stages=["production"])
    reason = subscription.rejection(event("sh.keptn.event.deployment.started", stage="dev"))
    assert reason is not None and "PUBSUB_TOPIC" in reason


def test_from_settings_takes_the_topic_and_the_three_filters() -> None:
    settings = Settings(
        pubsub_topic="sh.keptn.event.evaluation.finished",
        project_filter="sockshop, podtato",
        stage_filter="production",
        service_filter="",
    )
    subscription = Subscription.from_settings(settings)
    assert subscription.rejection(event(project="podtato", stage="production", service="x")) is None
    assert (
        subscription.rejection(event(project="podtato", stage="dev")) == "stage 'dev' is filtered out by STAGE_FILTER"
    )
    assert subscription.rejection(event("sh.keptn.event.test.finished", project="podtato", stage="production"))
