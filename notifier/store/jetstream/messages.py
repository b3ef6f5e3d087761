"""How a notification is kept in a stream message: its metadata as one JSON line, then the event's body as it came.

The same message is an outbox entry and, with why it died added, a dead letter; a dead letter queued again is
the same notification in a new generation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

from notifier.store.protocol import NotificationId

ACK, NAK, PROGRESS = b"+ACK", b"-NAK", b"+WPI"


@dataclass(frozen=True, slots=True)
class Meta:
    """What the store keeps of a notification besides its event's body (the fields of `Outgoing` and `Pending`)."""

    # `<event>-<index>`: the event's dedup revision and the notification's place among the event's.
    id: NotificationId
    event: str
    channel: str
    route: str
    template: str | None
    type: str
    context: str
    created: float
    # 0 when accepted; a dead letter queued again is the dead letter's sequence: its attempts count anew, and its
    # publish is no repeat of the first.
    generation: int = 0
    order: str = ""
    group: str = ""
    # Not claimable before this (wall seconds); 0 for at once.
    due: float = 0.0
    broadcast: bool = False
    note: str = ""

    @property
    def keyed(self) -> bool:
        """On a subject where only the oldest message may go: its order key's, or its group's."""
        return bool(self.order or self.group)

    @property
    def grouped(self) -> bool:
        """Claimed with the others of its group (an order key, when it has both, rules: its subject is the key's)."""
        return bool(self.group) and not self.order

    @property
    def attempts_key(self) -> str:
        """Its key in the attempts bucket: one count per generation."""
        return f"{self.id}.{self.generation}"

    @classmethod
    def of(cls, fields: dict[str, Any]) -> Meta:
        """Also an earlier version's: a threaded notification was ordered by its run's context, and one held for a
        digest was grouped by its route and time (the subject it is on) with its reason as its note."""
        if "threaded" in fields:
            fields = dict(fields)
            if fields.pop("threaded"):
                fields["order"] = fields["context"]
            if held := fields.pop("held", None):
                until = float(fields.pop("held_until"))
                fields.update(group=f"{fields['route']}\0{until!r}", due=until, note=str(held))
        known = cls.__dataclass_fields__
        return cls(**{name: value for name, value in fields.items() if name in known})


@dataclass(frozen=True, slots=True)
class Death:
    """Why and when a dead letter died, and after how many attempts."""

    reason: str
    attempts: int
    died: float


def encode(meta: Meta, body: bytes, death: Death | None = None) -> bytes:
    fields = asdict(meta) if death is None else {**asdict(meta), **asdict(death)}
    # orjson writes no raw newline, so the first one ends the metadata.
    return orjson.dumps(fields) + b"\n" + body


def decode(data: bytes | None) -> tuple[Meta, bytes]:
    fields, body = _split(data)
    return Meta.of(fields), body


def decode_letter(data: bytes | None) -> tuple[Meta, Death, bytes]:
    fields, body = _split(data)
    death = Death(str(fields["reason"]), int(fields["attempts"]), float(fields["died"]))
    return Meta.of(fields), death, body


def _split(data: bytes | None) -> tuple[dict[str, Any], bytes]:
    head, _, body = (data or b"").partition(b"\n")
    fields: dict[str, Any] = orjson.loads(head)
    return fields, body


def nak(delay: float) -> bytes:
    """A nak that makes the server hand the message out again in `delay` seconds (at once when none)."""
    return NAK + b" " + orjson.dumps({"delay": int(delay * 1e9)}) if delay > 0 else NAK
