"""The filters templates get beyond Jinja's own: small, pure, and safe on Undefined and wrong types."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from notifier.keptn.urls import without_userinfo
from notifier.keptn.values import duration_text, format_number, number, parse_time, text


def round_score(value: object, digits: int = 2) -> str:
    """83.33333333333334 -> "83.33", 100.0 -> "100"; empty for anything that is not a number."""
    parsed = number(value)
    return "" if parsed is None else format_number(parsed, max(0, min(int(digits), 6)))


def truncate_middle(value: object, length: int = 60) -> str:
    """Keep both ends of long ids and URLs, where the telling parts are."""
    shown = value if isinstance(value, str) else text(value)
    length = max(int(length), 5)
    if len(shown) <= length:
        return shown
    # A cut inside a URL's user info would leave part of a password that no later step recognises as one.
    shown = without_userinfo(shown)
    if len(shown) <= length:
        return shown
    head = (length - 1) // 2
    return shown[:head] + "…" + shown[len(shown) - (length - 1 - head) :]


def join_nonempty(values: object, separator: str = ", ") -> str:
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        return text(values)
    return str(separator).join(shown for shown in (text(item) for item in values) if shown)


def format_time(value: object) -> str:
    parsed = parse_time(value)
    if not parsed:
        return text(value)
    # strftime("%Y-%m-%d %H:%M:%S UTC") as glibc writes it (the year unpadded), at half the cost.
    return (
        f"{parsed.year}-{parsed.month:02d}-{parsed.day:02d} "
        f"{parsed.hour:02d}:{parsed.minute:02d}:{parsed.second:02d} UTC"
    )


def duration(start: object, end: object) -> str:
    return duration_text(start, end)


TEMPLATE_FILTERS: Final = MappingProxyType(
    {
        "round_score": round_score,
        "truncate_middle": truncate_middle,
        "join_nonempty": join_nonempty,
        "format_time": format_time,
        "duration": duration,
    }
)
