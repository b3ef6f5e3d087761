"""Quiet hours on ordinary days, across midnight, on DST days and on a day a zone skipped; no real clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.noise.quiet_hours import first_reaching, is_quiet, period, quiet_ends_at
from notifier.noise.rules import QuietHours


def quiet(start: str, end: str, zone: str = "Europe/Vienna") -> QuietHours:
    return QuietHours.model_validate({"from": start, "to": end, "timezone": zone})


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


NIGHT = quiet("22:00", "07:00")
OFFICE = quiet("09:00", "17:00")

# Europe/Vienna in 2026: spring forward on 29 March at 01:00 UTC (02:00 CET -> 03:00 CEST), fall back on
# 25 October at 01:00 UTC (03:00 CEST -> 02:00 CET).
CASES = [
    # (spec, instant (UTC), quiet?, quiet ends at (UTC))
    (NIGHT, "2026-01-15T20:59:59", False, None),
    (NIGHT, "2026-01-15T21:00:00", True, "2026-01-16T06:00:00"),  # 22:00 CET
    (NIGHT, "2026-01-15T23:30:00", True, "2026-01-16T06:00:00"),  # after midnight local
    (NIGHT, "2026-01-16T05:59:59", True, "2026-01-16T06:00:00"),
    (NIGHT, "2026-01-16T06:00:00", False, None),  # 07:00 CET: `to` is not quiet
    (NIGHT, "2026-07-15T19:59:59", False, None),  # 21:59:59 CEST
    (NIGHT, "2026-07-15T20:00:00", True, "2026-07-16T05:00:00"),
    (OFFICE, "2026-01-15T07:59:00", False, None),
    (OFFICE, "2026-01-15T08:00:00", True, "2026-01-15T16:00:00"),
    (OFFICE, "2026-01-15T16:00:00", False, None),
    # Spring forward: the night is 8 hours long; 22:00 CET to 07:00 CEST.
    (NIGHT, "2026-03-28T21:00:00", True, "2026-03-29T05:00:00"),
    (NIGHT, "2026-03-29T00:59:59", True, "2026-03-29T05:00:00"),  # 01:59:59 CET
    (NIGHT, "2026-03-29T01:00:00", True, "2026-03-29T05:00:00"),  # 03:00 CEST
    (NIGHT, "2026-03-29T05:00:00", False, None),
    # Fall back: the night is 10 hours long; 22:00 CEST to 07:00 CET.
    (NIGHT, "2026-10-24T20:00:00", True, "2026-10-25T06:00:00"),
    (NIGHT, "2026-10-25T00:30:00", True, "2026-10-25T06:00:00"),  # 02:30 CEST
    (NIGHT, "2026-10-25T01:30:00", True, "2026-10-25T06:00:00"),  # 02:30 CET
    (NIGHT, "2026-10-25T05:59:59", True, "2026-10-25T06:00:00"),
    (NIGHT, "2026-10-25T06:00:00", False, None),
    # `to` inside the skipped hour: the period ends at the jump, when the clock first reads 02:30 or later.
    (quiet("01:00", "02:30"), "2026-03-29T00:00:00", True, "2026-03-29T01:00:00"),
    (quiet("01:00", "02:30"), "2026-03-29T01:00:00", False, None),
    # `from` inside the skipped hour: the period starts at the jump.
    (quiet("02:30", "05:00"), "2026-03-29T00:59:59", False, None),
    (quiet("02:30", "05:00"), "2026-03-29T01:00:00", True, "2026-03-29T03:00:00"),
    # `to` inside the repeated hour: the first 02:30 (CEST) ends it, and the repeated 02:00-02:30 is not quiet.
    (quiet("01:00", "02:30"), "2026-10-24T23:00:00", True, "2026-10-25T00:30:00"),
    (quiet("01:00", "02:30"), "2026-10-25T00:30:00", False, None),
    (quiet("01:00", "02:30"), "2026-10-25T01:15:00", False, None),  # 02:15 CET, the second time round
    # `from` inside the repeated hour: the first 02:30 (CEST) starts it.
    (quiet("02:30", "04:00"), "2026-10-25T00:29:59", False, None),
    (quiet("02:30", "04:00"), "2026-10-25T00:30:00", True, "2026-10-25T03:00:00"),
    (quiet("02:30", "04:00"), "2026-10-25T01:10:00", True, "2026-10-25T03:00:00"),  # 02:10 CET
    # New York: spring forward on 8 March 2026 at 07:00 UTC (02:00 EST -> 03:00 EDT).
    (quiet("22:00", "07:00", "America/New_York"), "2026-03-08T03:00:00", True, "2026-03-08T11:00:00"),
    # Sydney, southern hemisphere: DST starts 4 October 2026 at 16:00 UTC on the 3rd (02:00 AEST -> 03:00 AEDT).
    (quiet("22:00", "07:00", "Australia/Sydney"), "2026-10-03T12:00:00", True, "2026-10-03T20:00:00"),
    # Samoa skipped 30 December 2011 (23:59:59 -10 on the 29th, then 00:00 +14 on the 31st): the night of the
    # 29th runs into the period of the missing day, and quiet lasts until 07:00 on the 31st.
    (quiet("22:00", "07:00", "Pacific/Apia"), "2011-12-30T08:00:00", True, "2011-12-30T17:00:00"),
    (quiet("22:00", "07:00", "Pacific/Apia"), "2011-12-30T09:59:59", True, "2011-12-30T17:00:00"),
    (quiet("22:00", "07:00", "UTC"), "2026-06-01T22:00:00", True, "2026-06-02T07:00:00"),
]


@pytest.mark.parametrize(("spec", "instant", "is_quiet_now", "ends"), CASES)
def test_quiet_hours_table(spec: QuietHours, instant: str, is_quiet_now: bool, ends: str | None) -> None:
    now = utc(instant)
    assert is_quiet(now, spec) is is_quiet_now
    assert quiet_ends_at(now, spec) == (utc(ends) if ends else now)


def test_first_reaching_a_skipped_time_is_the_jump_and_a_repeated_time_its_first_occurrence() -> None:
    vienna = ZoneInfo("Europe/Vienna")
    assert first_reaching(date(2026, 3, 29), datetime(2026, 1, 1, 2, 30).time(), vienna) == utc("2026-03-29T01:00:00")
    assert first_reaching(date(2026, 10, 25), datetime(2026, 1, 1, 2, 30).time(), vienna) == utc("2026-10-25T00:30:00")


def test_the_dst_nights_are_an_hour_shorter_and_longer() -> None:
    lengths = {day: (lambda p: p[1] - p[0])(period(day, NIGHT)) for day in (date(2026, 3, 28), date(2026, 10, 24))}
    assert lengths == {date(2026, 3, 28): 8 * 3600, date(2026, 10, 24): 10 * 3600}


# --- properties on arbitrary instants and zones -----------------------------------------------------------------
# From 1975: every UTC offset in the tz database since then is a whole number of minutes, so an oracle that
# walks the clock minute by minute finds every boundary exactly.
INSTANTS = st.integers(min_value=int(utc("1975-01-01T00:00:00")), max_value=int(utc("2037-12-31T00:00:00")))
# Around the hours clocks usually jump, so that gaps and repeats are hit often.
CLOCKS = st.one_of(
    st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda hm: f"{hm[0]:02d}:{hm[1]:02d}"),
    st.sampled_from(["00:00", "00:30", "01:00", "01:30", "01:59", "02:00", "02:30", "02:59", "03:00", "03:30"]),
)
DST_ZONES = ("Europe/Vienna", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago")


def _transitions(zone_name: str, year: int) -> list[int]:
    zone = ZoneInfo(zone_name)
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    hours = range(start, start + 366 * 24 * 3600, 3600)
    offsets = [datetime.fromtimestamp(hour, zone).utcoffset() for hour in hours]
    return [hour for hour, before, after in zip(hours[1:], offsets, offsets[1:], strict=False) if before != after]


TRANSITIONS = sorted((zone, instant) for zone in DST_ZONES for instant in _transitions(zone, 2026))


def specs() -> st.SearchStrategy[QuietHours]:
    def build(start: str, end: str, zone: str) -> QuietHours | None:
        return None if start == end else quiet(start, end, zone)

    return st.builds(build, CLOCKS, CLOCKS, st.timezone_keys()).filter(lambda spec: spec is not None)  # type: ignore[return-value]


def oracle_periods(now: int, spec: QuietHours) -> list[tuple[int, int]]:
    """Quiet periods near `now`, found by reading the local clock every minute: no fold or gap logic at all."""
    zone = spec.zone
    # From before yesterday's local start to after tomorrow's local end, whatever the offset (+-14h).
    first_minute = (now // 60 - 40 * 60) * 60
    readings = [
        (instant, datetime.fromtimestamp(instant, zone).replace(tzinfo=None))
        for instant in range(first_minute, now + 80 * 3600, 60)
    ]

    def first_at_or_after(wall: datetime) -> int:
        return next(instant for instant, reading in readings if reading >= wall)

    today = datetime.fromtimestamp(now, zone).date()
    found = []
    for offset in (-1, 0, 1):
        day = today + timedelta(days=offset)
        end_day = day + timedelta(days=1) if spec.crosses_midnight else day
        found.append(
            (
                first_at_or_after(datetime.combine(day, spec.start)),
                first_at_or_after(datetime.combine(end_day, spec.end)),
            )
        )
    return found


def check_against_oracle(now: int, spec: QuietHours) -> None:
    periods = oracle_periods(now, spec)
    containing = [end for start, end in periods if start <= now < end]
    expected_end = now
    while containing:  # periods that touch go on (a skipped day)
        expected_end = containing[0]
        containing = [end for start, end in periods if start <= expected_end < end]
    assert is_quiet(now, spec) is (expected_end > now)
    assert quiet_ends_at(now, spec) == expected_end


@settings(max_examples=40, deadline=None)
@given(now=INSTANTS, spec=specs())
def test_quiet_hours_agree_with_a_minute_by_minute_oracle(now: int, spec: QuietHours) -> None:
    check_against_oracle(now, spec)


@settings(max_examples=80, deadline=None)
@given(
    near=st.sampled_from(TRANSITIONS),
    shift=st.integers(-36 * 3600, 36 * 3600),
    start=CLOCKS,
    end=CLOCKS,
)
def test_quiet_hours_agree_with_the_oracle_around_dst_changes(
    near: tuple[str, int], shift: int, start: str, end: str
) -> None:
    zone, transition = near
    if start != end:
        check_against_oracle(transition + shift, quiet(start, end, zone))


def test_the_transition_table_found_the_dst_changes() -> None:
    assert len(TRANSITIONS) == 2 * len(DST_ZONES)


@settings(max_examples=300, deadline=None)
@given(now=st.floats(min_value=utc("1975-01-01T00:00:00"), max_value=utc("2037-12-31T00:00:00")), spec=specs())
def test_quiet_ends_at_is_the_first_instant_that_is_not_quiet(now: float, spec: QuietHours) -> None:
    end = quiet_ends_at(now, spec)
    assert end >= now
    assert is_quiet(now, spec) is (end > now)
    assert not is_quiet(end, spec)
    # No quiet period is longer than a day and a skipped day, plus a DST shift.
    assert end - now <= 49 * 3600
    # datetime works in microseconds: closer to the end than that, the midpoint is the end itself.
    if end - now > 1e-3:
        assert is_quiet((now + end) / 2, spec)
