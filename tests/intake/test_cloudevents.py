import orjson
import pytest

from notifier.intake.cloudevents import UnsupportedMediaType, parse_request
from notifier.keptn.events import EventError

EVENT = {
    "specversion": "1.0",
    "id": "e1",
    "source": "lighthouse-service",
    "type": "sh.keptn.event.evaluation.finished",
    "time": "2026-11-20T10:00:00.123456789Z",
    "shkeptncontext": "ctx-1",
    "data": {"project": "sockshop", "stage": "production", "service": "carts", "result": "fail"},
}


def parse(content_type: str, body: object, headers: dict[str, str] | None = None) -> list:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return parse_request(content_type, headers or {"Content-Type": content_type}, raw, max_batch=10)


def test_structured_mode_keeps_the_raw_attributes() -> None:
    [event] = parse("application/cloudevents+json; charset=utf-8", EVENT)
    assert (event.id, event.source, event.project, event.result) == (
        "e1",
        "lighthouse-service",
        "sockshop",
        "fail",
    )
    assert event.time == "2026-11-20T10:00:00.123456789Z"
    assert event.keptn_context == "ctx-1"


def test_batch_mode_splits_the_array() -> None:
    events = parse("application/cloudevents-batch+json", [EVENT, {**EVENT, "id": "e2"}])
    assert [event.id for event in events] == ["e1", "e2"]


def test_batch_over_the_limit_is_refused() -> None:
    with pytest.raises(EventError, match="more than the limit of 10"):
        parse("application/cloudevents-batch+json", [EVENT] * 11)


def test_binary_mode_reads_ce_headers() -> None:
    headers = {
        "Content-Type": "application/json",
        "ce-id": "b1",
        "ce-source": "shipyard-controller",
        "ce-type": "sh.keptn.event.dev.delivery.finished",
        "ce-specversion": "1.0",
        "ce-shkeptncontext": "ctx-2",
        "ce-time": "2026-11-20T10:00:00.123456789Z",
    }
    [event] = parse("application/json", {"project": "p", "stage": "dev"}, headers)
    assert (event.id, event.type, event.stage, event.keptn_context) == (
        "b1",
        headers["ce-type"],
        "dev",
        "ctx-2",
    )
    assert event.time == headers["ce-time"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        ({k: v for k, v in EVENT.items() if k != "id"}, "lacks the CloudEvents attribute\\(s\\) id"),
        ({k: v for k, v in EVENT.items() if k not in ("type", "source")}, "source, type"),
        ({**EVENT, "specversion": ""}, "specversion"),
        ({**EVENT, "data": [1, 2]}, "'data' must be a JSON object"),
        ({**EVENT, "data": "text"}, "'data' must be a JSON object"),
        ([EVENT], "must be a JSON object"),
        ({**EVENT, "id": 5}, "must be a string"),
    ],
)
def test_malformed_events_say_what_is_wrong(body: object, message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse("application/cloudevents+json", body)


def test_binary_mode_without_required_headers() -> None:
    with pytest.raises(EventError, match="ce-source, ce-type, ce-specversion"):
        parse("application/json", {}, {"Content-Type": "application/json", "ce-id": "x"})


def test_unsupported_content_type() -> None:
    with pytest.raises(UnsupportedMediaType, match="text/plain"):
        parse("text/plain", b"hello")


def test_null_data_is_an_empty_object() -> None:
    [event] = parse("application/cloudevents+json", {**EVENT, "data": None})
    assert event.data == {} and event.project == ""
