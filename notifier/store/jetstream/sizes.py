"""How `NOTIFIER_NATS_MAX_BYTES` is divided among the JetStream store's streams and buckets.

JetStream reserves a stream's `max_bytes` from its file storage when the stream is made, used or not, and Keptn's
own `keptn` stream (no `max_bytes`) grows into whatever the reservations of others leave: so the service reserves
one total, the operator's, and divides it here. Each stream first gets a floor, the least that keeps it useful,
then a share of the rest by what it holds: the outbox (every notification not yet sent) half, the dead letters a
quarter, the dedup memory (one small entry per event) an eighth, the five small buckets the last eighth between
them. At the default: 256, 128, 63 and 13 MiB each. Loads no NATS client: the settings check a total against
`MIN_TOTAL`.
"""

from __future__ import annotations

from fractions import Fraction
from types import MappingProxyType

MiB = 1024**2
DEFAULT_TOTAL = 512 * MiB
# Stream (the Layout's name for it) -> (floor, share of the total above the floors).
RULE = MappingProxyType(
    {
        "outbox": (16 * MiB, Fraction(1, 2)),
        "dead": (8 * MiB, Fraction(1, 4)),
        "dedup": (3 * MiB, Fraction(1, 8)),
        "attempts": (MiB, Fraction(1, 40)),
        "pauses": (MiB, Fraction(1, 40)),
        "threads": (MiB, Fraction(1, 40)),
        "memos": (MiB, Fraction(1, 40)),
        "silences": (MiB, Fraction(1, 40)),
    }
)
# Below this some stream would get less than its floor.
MIN_TOTAL = sum(floor for floor, _ in RULE.values())


def divide(total: int) -> dict[str, int]:
    """Each stream's max_bytes, `total` together (never less than MIN_TOTAL: the settings refuse it)."""
    if total < MIN_TOTAL:
        raise ValueError(f"{in_words(total)} is less than the {in_words(MIN_TOTAL)} the streams need at the least")
    rest = total - MIN_TOTAL
    sizes = {name: floor + int(rest * share) for name, (floor, share) in RULE.items()}
    # The few bytes the shares round off go to the outbox.
    sizes["outbox"] += total - sum(sizes.values())
    return sizes


def in_words(size: int) -> str:
    """`512 MiB`, `1.5 GiB`, `300 KiB`, `12 B`: a size as the docs and the messages write it."""
    for unit, name in ((1024**3, "GiB"), (MiB, "MiB"), (1024, "KiB")):
        if size >= unit:
            return f"{size / unit:.1f}".removesuffix(".0") + f" {name}"
    return f"{size} B"
