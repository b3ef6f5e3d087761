"""The filters templates get beyond Jinja's own."""

from __future__ import annotations

import pytest

from notifier.templating.filters import round_score, truncate_middle


@pytest.mark.parametrize(
    ("value", "expected"),
    [(83.33333333333334, "83.33"), (100.0, "100"), ("91.5", "91.5"), (None, ""), ("n/a", ""), (True, "")],
)
def test_round_score(value: object, expected: str) -> None:
    assert round_score(value) == expected


def test_truncate_middle_keeps_both_ends() -> None:
    assert truncate_middle("abcdefghijklmnopqrstuvwxyz", 11) == "abcde…vwxyz"
    assert truncate_middle("short", 11) == "short"
    assert len(truncate_middle("x" * 500, 60)) == 60
