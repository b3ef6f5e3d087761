"""Quiet hours in the route's time zone: is an instant quiet, and when does the quiet period end.

The definition, which holds on DST days and when a zone skips a whole day: the quiet period of local date D
starts at the first instant the local clock reads `from` or later on D, and ends at the first instant it reads
`to` or later on D (or on D+1 when the period crosses midnight). So a period ends when the clock first reaches
`to`, also when that wall time is skipped (spring forward: it ends at the jump) or repeated (fall back: the
first occurrence ends it, and the repeated hour is not quiet again).

Times are wall-clock seconds since the epoch (`now: float`), given by the caller's clock.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifier.noise.rules import QuietHours

_DAY = timedelta(days=1)


def is_quiet(now: float, spec: QuietHours) -> bool:
    return quiet_ends_at(now, spec) > now


def quiet_ends_at(now: float, spec: QuietHours) -> float:
    """The first instant at or after `now` that is not quiet: `now` itself when `now` is not quiet."""
    zone = spec.zone
    instant = now
    # A period can end where the next begins (a zone that skips a day): then the quiet goes on.
    while (end := _end_of_period_at(instant, spec, zone)) is not None:
        instant = end
    return instant


def _end_of_period_at(instant: float, spec: QuietHours, zone: ZoneInfo) -> float | None:
    today = datetime.fromtimestamp(instant, zone).date()
    # Yesterday's period may run into today; tomorrow's only matters where a zone's clock goes back over midnight.
    for day in (today - _DAY, today, today + _DAY):
        start, end = period(day, spec, zone)
        if start <= instant < end:
            return end
    return None


def period(day: date, spec: QuietHours, zone: ZoneInfo | None = None) -> tuple[float, float]:
    """The quiet period that starts on local date `day`, as [start, end) instants."""
    zone = zone or spec.zone
    end_day = day + _DAY if spec.crosses_midnight else day
    return first_reaching(day, spec.start, zone), first_reaching(end_day, spec.end, zone)


def first_reaching(day: date, wall: time, zone: ZoneInfo) -> float:
    """The first instant at which the local clock reads `day` at `wall`, or later."""
    naive = datetime.combine(day, wall)
    # fold=0 is the earlier of a repeated wall time; for a skipped one it applies the offset from before the jump,
    # which lands after the jump.
    after = naive.replace(tzinfo=zone).timestamp()
    if datetime.fromtimestamp(after, zone).replace(tzinfo=None) == naive:
        return after
    # `wall` is skipped on `day`: the answer is the jump itself. zoneinfo does not expose its transitions, so
    # find it between the two readings (fold=1 lands before the jump) by bisection on whole seconds; every
    # transition in the tz database falls on one.
    offset_after = zone.utcoffset(datetime.fromtimestamp(after, zone))
    low, high = int(naive.replace(tzinfo=zone, fold=1).timestamp()), int(after)
    while high - low > 1:
        middle = (low + high) // 2
        if zone.utcoffset(datetime.fromtimestamp(middle, zone)) == offset_after:
            high = middle
        else:
            low = middle
    return float(high)
