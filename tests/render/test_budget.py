"""The cheap size bound `fit` uses: never below what `json.dumps` writes, however the size is counted."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from notifier.render.budget import json_size_bound, within_bound
from notifier.render.plaintext import utf16_length

# What renderers put in payloads: strings (any character, controls and DEL included), booleans, null, integers.
LEAVES = st.one_of(st.text(), st.booleans(), st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1))
PAYLOADS = st.recursive(
    LEAVES, lambda children: st.lists(children) | st.dictionaries(st.text(), children), max_leaves=30
)


@given(PAYLOADS)
def test_the_bound_is_never_below_the_serialized_size(payload: Any) -> None:
    bound = json_size_bound(payload)
    assert bound >= len(json.dumps(payload).encode("utf-8"))
    assert bound >= utf16_length(json.dumps(payload, ensure_ascii=False))


def test_the_bound_holds_for_the_characters_the_two_serializers_escape_differently() -> None:
    for text in ("\x7f" * 10, '\x00\x1f\b\f\n\r\t"\\', "é€😀" * 5, "\u2028\u2029", ", : , :"):
        assert json_size_bound({"k": [text]}) >= len(json.dumps({"k": [text]}))


def test_without_a_bound_it_says_so() -> None:
    assert json_size_bound("\ud800") == sys.maxsize
    assert json_size_bound(2**70) == sys.maxsize


def measure_within(limit: int) -> tuple[Callable[[Any], int], list[object]]:
    """`within_bound` over an exact measure that records what it was asked to measure."""
    measured: list[object] = []

    def exact(payload: object) -> int:
        measured.append(payload)
        return 10**6

    return within_bound(exact, limit), measured


def test_within_bound_measures_exactly_only_past_the_limit() -> None:
    measure, measured = measure_within(100)
    assert measure({"text": "short"}) <= 100 and measured == []
    assert measure({"text": "x" * 200}) == 10**6 and measured == [{"text": "x" * 200}]


def test_within_bound_counts_when_six_times_the_compact_size_is_past_the_limit() -> None:
    measure, measured = measure_within(100)
    payload = {"text": "x" * 40}  # 51 compact bytes: 306 > 100 uncounted, 53 counted
    assert measure(payload) == json_size_bound(payload) <= 100 and measured == []
    assert measure({"text": "\ud800"}) == 10**6  # no bound at all: measured
    assert measured == [{"text": "\ud800"}]
