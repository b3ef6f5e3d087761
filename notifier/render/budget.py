"""Shrinking a rendered message until the platform's size limit holds.

Each renderer builds its payload from a `Budget` (character caps on the plain text of each part). `fit` tries
ever smaller budgets: facts, title and links are kept generous as long as a reasonable amount of body text
still fits; the body text then gets the largest length that fits (a binary search). The last budget is so
small that it fits whatever the message holds, so rendering never fails.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import orjson

PayloadT = TypeVar("PayloadT")


@dataclass(frozen=True, slots=True)
class Budget:
    """Caps in plain-text characters, before escaping; `facts` and `links` count items."""

    title: int
    text: int
    facts: int
    fact_name: int
    fact_value: int
    links: int
    link_title: int
    footer: int

    def with_text(self, text: int) -> Budget:
        # Not dataclasses.replace, which reads the fields anew on every call: 1.4 against 0.6 us.
        return Budget(
            self.title, text, self.facts, self.fact_name, self.fact_value, self.links, self.link_title, self.footer
        )


BUDGETS = (
    Budget(title=300, text=20_000, facts=50, fact_name=100, fact_value=1000, links=20, link_title=75, footer=1000),
    Budget(title=200, text=20_000, facts=30, fact_name=80, fact_value=300, links=10, link_title=60, footer=300),
    Budget(title=150, text=20_000, facts=20, fact_name=60, fact_value=150, links=6, link_title=50, footer=200),
    Budget(title=100, text=20_000, facts=10, fact_name=40, fact_value=80, links=4, link_title=40, footer=120),
    Budget(title=60, text=20_000, facts=5, fact_name=30, fact_value=40, links=0, link_title=30, footer=60),
)
# Body text a budget must leave room for before the next, smaller budget is tried.
MIN_TEXT = 500


_HIGH_BYTES: Final = bytes(range(0x80, 0x100))


def serialized_size(payload: object) -> int:
    """Bytes of the payload as JSON with every non-ASCII character escaped: no serializer produces more."""
    return len(json.dumps(payload).encode("utf-8"))


def json_size_bound(payload: object) -> int:
    """At least the size of `json.dumps(payload)`, with or without `ensure_ascii`, in UTF-8 bytes or UTF-16 units.

    For payloads of strings, booleans, null and integers, at a twentieth of the cost of measuring: orjson writes
    the same escapes and numbers, but no space after `,` and `:` (counted, strings included), DEL unescaped (5
    more for `\\u007f`) and non-ASCII characters as 2 to 4 UTF-8 bytes where `\\uXXXX` takes 6 or 12.
    """
    serialized = _compact(payload)
    return sys.maxsize if serialized is None else _bound(serialized)


def within_bound(size: Callable[[Any], int], max_size: int) -> Callable[[Any], int]:
    """`size` for `fit`, skipped when `json_size_bound` already shows the payload within `max_size`.

    What `fit` needs is only whether a payload fits; measuring it exactly costs more than building it.
    """

    def measure(payload: Any) -> int:
        serialized = _compact(payload)
        if serialized is None:
            return size(payload)
        # No byte adds more than 5 (DEL), so a payload a sixth of the limit fits without counting.
        bound = 6 * len(serialized)
        if bound > max_size:
            bound = _bound(serialized)
        return bound if bound <= max_size else size(payload)

    return measure


def _compact(payload: object) -> bytes | None:
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:  # a lone surrogate, an integer past 64 bits: no bound
        return None


def _bound(serialized: bytes) -> int:
    extra = serialized.count(b",") + serialized.count(b":") + 5 * serialized.count(b"\x7f")
    if not serialized.isascii():
        extra += 2 * (len(serialized) - len(serialized.translate(None, _HIGH_BYTES)))
    return len(serialized) + extra


def fit(
    build: Callable[[Budget], PayloadT],
    size: Callable[[PayloadT], int],
    max_size: int,
    text_length: int,
) -> PayloadT:
    """The payload of the first budget that fits `max_size`, with as much body text as still fits."""
    last = len(BUDGETS) - 1
    for position, budget in enumerate(BUDGETS):
        floor = 0 if position == last else min(text_length, MIN_TEXT, budget.text)
        payload = build(budget.with_text(floor))
        if size(payload) > max_size:
            continue
        low, high = floor, min(text_length, budget.text)
        best = payload
        if high > low:
            candidate = build(budget.with_text(high))
            if size(candidate) <= max_size:
                return candidate
        while low < high:
            middle = (low + high + 1) // 2
            candidate = build(budget.with_text(middle))
            if size(candidate) <= max_size:
                low, best = middle, candidate
            else:
                high = middle - 1
        return best
    raise AssertionError("the smallest budget must always fit")  # pragma: no cover
