"""Lenient readers for JSON values from events: any value in, display text, a number or a time out, never a raise."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_RFC3339 = re.compile(r"\s*(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?\s*(Z|z|[+-]\d{2}:?\d{2})?\s*")


def text(value: object) -> str:
    """A scalar as display text; containers and None become empty (they are never meant to be shown raw)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    return ""


def format_number(value: float, digits: int = 2) -> str:
    """83.33333333333334 -> "83.33", 100.0 -> "100", 0.000123 -> "0.000123": short but never zeroed out."""
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 10**-digits:
        return f"{value:.3g}"
    rounded = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if rounded in ("-0", "") else rounded


def format_measurement(value: float) -> str:
    """SLI values span 0.002 (error rates) to 1841 (requests): keep three significant digits below one."""
    return format_number(value) if abs(value) >= 1 or value == 0 else f"{value:.3g}"


def number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def mapping(value: object) -> Mapping[str, Any]:
    # `type(...) is dict` first: parsed JSON holds plain dicts, and the ABC check costs ten times more.
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def sequence_of_mappings(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if type(item) is dict or isinstance(item, Mapping)]


def strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str) and item] if isinstance(value, list) else []


def parse_time(value: object) -> datetime | None:
    """RFC 3339 with any number of fractional digits (Keptn sends nanoseconds); naive times are UTC."""
    if not isinstance(value, str):
        return None
    match = _RFC3339.fullmatch(value)
    if not match:
        return None
    day, clock, fraction, zone = match.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    zone = "+00:00" if not zone or zone in "Zz" else zone
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}.{micro}{zone}")
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def duration_text(start: object, end: object) -> str:
    began, ended = parse_time(start), parse_time(end)
    if began is None or ended is None or ended < began:
        return ""
    seconds = round((ended - began).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"
