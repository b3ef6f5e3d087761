"""The pipeline's first stage: limits on what an event from outside may hold (moved here from test_events)."""

import orjson
import pytest

from notifier.intake.cloudevents import parse_request
from notifier.keptn.events import EventError, event_from_mapping
from notifier.pipeline.bounds import TRUNCATION_MARKER, Bound, InputLimits
from tests.helpers import keptn_event

EVENT = keptn_event("e1")


def bounded(data: dict, **limits: int):
    raw = orjson.dumps({**EVENT, "data": data})
    return Bound(InputLimits(**limits))(parse_request("application/cloudevents+json", {}, raw, 10), len(raw))[0]


def test_long_strings_are_cut_with_a_marker_not_refused() -> None:
    event = bounded({"project": "p", "message": "x" * 10_000, "nested": {"deep": ["y" * 9_000]}}, max_string_chars=1000)
    assert event.data["message"] == "x" * 1000 + "…[truncated]"
    assert event.data["nested"]["deep"][0].endswith("…[truncated]")
    assert event.raw["data"] is event.data


def test_too_many_labels_are_cut_to_the_limit() -> None:
    event = bounded({"labels": {f"k{i}": "v" for i in range(80)}}, max_labels=5)
    assert list(event.labels) == ["k0", "k1", "k2", "k3", "k4"]


def test_deep_nesting_and_key_floods_are_refused_with_a_reason() -> None:
    deep: dict = {}
    node = deep
    for _ in range(50):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(EventError, match="nested deeper than 32 levels"):
        bounded(deep)
    with pytest.raises(EventError, match="more than 500 keys"):
        bounded({f"k{i}": i for i in range(600)}, max_keys=500)


def test_an_event_within_limits_is_passed_through_untouched() -> None:
    raw = orjson.dumps(EVENT)
    [plain] = parse_request("application/cloudevents+json", {}, raw, 10)
    [checked] = Bound(InputLimits())([plain], len(raw))
    assert checked.raw == plain.raw
    assert checked is plain  # nothing to cut: not even a copy


def test_without_a_size_long_strings_are_still_found_and_cut() -> None:
    # An intake that cannot say how large its input was (size None) gets the full walk, never less.
    event = event_from_mapping({**EVENT, "data": {"message": "z" * 300}})
    [cut] = Bound(InputLimits(max_string_chars=256))([event])
    assert cut.data["message"] == "z" * 256 + TRUNCATION_MARKER


def test_a_size_below_the_string_limit_skips_only_the_string_walk() -> None:
    # A body no longer than the limit cannot hold a longer string; shape and labels are still checked.
    labels = {f"k{i}": "v" for i in range(3)}
    event = event_from_mapping({**EVENT, "data": {"labels": labels}})
    [cut] = Bound(InputLimits(max_labels=2))([event], size=200)
    assert list(cut.labels) == ["k0", "k1"]
    with pytest.raises(EventError, match="more than 100 keys"):
        Bound(InputLimits(max_keys=100))([event_from_mapping({**EVENT, "data": {str(i): i for i in range(150)}})], 90)


def test_one_event_beyond_the_limits_refuses_the_whole_batch() -> None:
    fine = event_from_mapping(EVENT)
    deep: dict = {"a": {"b": {"c": {"d": {}}}}}
    too_deep = event_from_mapping({**EVENT, "id": "e2", "data": deep})
    with pytest.raises(EventError, match="nested deeper than 4 levels"):
        Bound(InputLimits(max_depth=4))([fine, too_deep])
