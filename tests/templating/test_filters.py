"""The filters templates get beyond Jinja's own."""

from __future__ import annotations

import pytest

from notifier.keptn.values import parse_time
from notifier.templating.filters import format_time, round_score, truncate_middle


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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T09:48:25.123456789Z", "2026-11-20 09:48:25 UTC"),
        ("2026-11-20T11:48:25+02:00", "2026-11-20 09:48:25 UTC"),
        ("0999-01-02T03:04:05Z", "999-01-02 03:04:05 UTC"),
        ("not a time", "not a time"),
        (None, ""),
    ],
)
def test_format_time_writes_utc_as_strftime_did(value: object, expected: str) -> None:
    assert format_time(value) == expected
    parsed = parse_time(value)
    if parsed is not None:
        assert format_time(value) == parsed.strftime("%Y-%m-%d %H:%M:%S UTC")
