"""Value readers: times with nanoseconds, durations, short numbers."""

from __future__ import annotations

import pytest

from notifier.keptn.values import duration_text, format_number, parse_time


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T09:48:12.987654321Z", "2026-11-20T09:48:12.987654+00:00"),
        ("2026-11-20T10:48:12+01:00", "2026-11-20T09:48:12+00:00"),
        ("2026-11-20 09:48:12", "2026-11-20T09:48:12+00:00"),
        ("yesterday", None),
        ("2026-13-40T00:00:00Z", None),
        (12, None),
    ],
)
def test_parse_time_takes_nanoseconds_and_offsets(value: object, expected: str | None) -> None:
    parsed = parse_time(value)
    assert (parsed.isoformat() if parsed else None) == expected


def test_durations_read_like_a_person_would_write_them() -> None:
    assert duration_text("2026-11-20T09:42:40.1Z", "2026-11-20T09:48:12.987654321Z") == "5m 33s"
    assert duration_text("2026-11-20T09:00:00Z", "2026-11-20T11:05:00Z") == "2h 5m"
    assert duration_text("2026-11-20T09:00:00Z", "2026-11-20T09:00:07Z") == "7s"
    assert duration_text("2026-11-20T09:00:07Z", "2026-11-20T09:00:00Z") == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [(83.33333333333334, "83.33"), (100.0, "100"), (0.0, "0"), (-0.001, "-0.001"), (0.000123, "0.000123")],
)
def test_format_number_is_short_but_never_rounds_to_zero(value: float, expected: str) -> None:
    assert format_number(value) == expected
