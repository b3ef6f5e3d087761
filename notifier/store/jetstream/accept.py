"""Accepting events: dedup across replicas, then each notification in the outbox, on its subject.

Dedup is a key-value bucket: `create(key)` is the atomic claim of an event across replicas. An entry says
"accepting" until every notification is stored; an event seen again in that state is published again with the
same `Nats-Msg-Id`s, which the stream drops as duplicates within its duplicate window, so a crash between the
two steps loses nothing and stores nothing twice. Past the dedup window (the store's clock) an event is
forgotten once none of its notifications waits in the outbox or among the dead letters.

A notification with `decide` is stored as `decide` says, on the memo's document as every replica last wrote it
(`shared.Memos`); an event published again is decided again, on the document its first decision wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from notifier.clock import Clock
from notifier.store.jetstream.connection import REQUEST_TIMEOUT, Link, talking
from notifier.store.jetstream.dead import DeadLetters
from notifier.store.jetstream.messages import Meta, encode
from notifier.store.jetstream.shared import Memos
from notifier.store.protocol import Accepted, Incoming, Outgoing, Retention

ACCEPTING, STORED = "accepting", "stored"


@dataclass(frozen=True, slots=True)
class _Entry:
    """A dedup entry: when the event was accepted, whether it is stored whole, and once it is, the event's
    revision (its notifications' ids) and where in the outbox they went, by their index among the event's."""

    at: float
    state: str
    event: int = 0
    outbox: tuple[tuple[int, int], ...] = ()

    def encode(self) -> bytes:
        places = ",".join(f"{index}:{seq}" for index, seq in self.outbox)
        return f"{self.at!r} {self.state} {self.event} {places}".encode()

    @classmethod
    def parse(cls, value: bytes | None) -> _Entry:
        at, state, event, outbox = (value or b"").decode().split(" ")
        places = []
        # An earlier version wrote the sequences alone, in the order of the indexes.
        for position, place in enumerate(place for place in outbox.split(",") if place):
            index, _, seq = place.rpartition(":")
            places.append((int(index or position), int(seq)))
        return cls(float(at), state, int(event), tuple(places))


@dataclass(frozen=True, slots=True)
class _Claimed:
    """An event this store is to publish: its dedup key and entry revision (the event's name), and when."""

    key: str
    revision: int
    at: float
    # False when publishing again what a replica that died half-way may have published already.
    new: bool


@dataclass(frozen=True, slots=True)
class _Publishing:
    """An event's publishes under way: the ack of each notification stored, with its index among the event's."""

    claimed: _Claimed
    acks: list[tuple[int, asyncio.Future[PubAck]]]


class Acceptor:
    def __init__(self, link: Link, clock: Clock, retention: Retention, memos: Memos, dead: DeadLetters) -> None:
        self._link = link
        self._clock = clock
        self._retention = retention
        self._memos = memos
        self._dead = dead

    async def accept(self, items: Sequence[Incoming]) -> list[Accepted]:
        _, js = self._link.connected()
        now = self._clock.time()
        outcomes = [Accepted(False)] * len(items)
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            first.setdefault(item.key, index)
        unique = sorted(first.values())
        with talking("store the events"):
            claims = await asyncio.gather(*(self._claim_key(items[index].key, now) for index in unique))
            publishing: list[_Publishing] = []
            # Decided and published one by one in order (each publish only queues its write), so that each
            # channel's order is the events' and each decision sees the documents the ones before it wrote.
            for index, claimed in zip(unique, claims, strict=True):
                if claimed is None:
                    continue
                item = items[index]
                stored = tuple([await self._memos.decide(outgoing, now) for outgoing in item.notifications])
                acks = await self._publish(js, item, claimed, stored)
                publishing.append(_Publishing(claimed, acks))
                if claimed.new:
                    outcomes[index] = Accepted(True, stored)
            every = [ack for one in publishing for _, ack in one.acks]
            await asyncio.wait_for(asyncio.gather(*every), REQUEST_TIMEOUT)
            await asyncio.gather(*(self._mark_stored(one) for one in publishing))
        return outcomes

    async def _claim_key(self, event_key: str, now: float) -> _Claimed | None:
        """Claim an event across replicas: what to publish, or None for a duplicate.

        The revision of the dedup entry names the event: its notifications' ids and `Nats-Msg-Id`s derive from it.
        """
        bucket = self._link.bucket(self._link.layout.dedup)
        key = hashlib.sha256(event_key.encode()).hexdigest()[:32]
        accepting = _Entry(now, ACCEPTING).encode()
        for _ in range(2):  # a second time only when the entry expired between create and get
            try:
                return _Claimed(key, await bucket.create(key, accepting), now, True)
            except KeyWrongLastSequenceError:
                pass
            try:
                found = await bucket.get(key)
            except KeyNotFoundError:
                continue
            entry, revision = _Entry.parse(found.value), found.revision or 0
            if now - entry.at >= self._retention.window:
                if await self._still_unsent(entry):
                    return None
                try:
                    return _Claimed(key, await bucket.update(key, accepting, last=revision), now, True)
                except KeyWrongLastSequenceError:
                    return None  # another replica took it first
            if entry.state == ACCEPTING:
                # Accepted by a replica that may have died half-way: publish again; the stream drops repeats.
                return _Claimed(key, revision, entry.at, False)
            return None
        return None

    async def _still_unsent(self, entry: _Entry) -> bool:
        """Whether a notification of a stored event is still in the outbox or a dead letter: never forgotten."""
        _, js = self._link.connected()
        for index, seq in entry.outbox:
            with contextlib.suppress(NotFoundError):
                await js.get_msg(self._link.layout.outbox, seq=seq)
                return True
            if await self._dead.holds(f"{entry.event}-{index}"):
                return True
        return False

    async def _publish(
        self, js: JetStreamContext, item: Incoming, claimed: _Claimed, stored: tuple[Outgoing | None, ...]
    ) -> list[tuple[int, asyncio.Future[PubAck]]]:
        """Publish what is to be stored of each notification; its index among the event's with its ack."""
        layout = self._link.layout
        acks = []
        for index, outgoing in enumerate(stored):
            if outgoing is None:
                continue
            meta = Meta(
                id=f"{claimed.revision}-{index}",
                event=str(claimed.revision),
                channel=outgoing.channel,
                route=outgoing.route,
                template=outgoing.template,
                type=item.type,
                context=item.context,
                created=claimed.at,
                order=outgoing.order,
                group=outgoing.group,
                due=outgoing.due,
                broadcast=outgoing.broadcast,
                note=outgoing.note,
            )
            subject = layout.outbox_subject(outgoing.channel, outgoing.order, outgoing.group)
            ack = await js.publish_async(subject, encode(meta, item.body), headers={"Nats-Msg-Id": meta.id})
            acks.append((index, ack))
        return acks

    async def _mark_stored(self, one: _Publishing) -> None:
        """The event is stored whole; where its notifications are tells, past the window, whether all were sent."""
        claimed = one.claimed
        places = tuple((index, ack.result().seq) for index, ack in one.acks)
        entry = _Entry(claimed.at, STORED, claimed.revision, places)
        with contextlib.suppress(KeyWrongLastSequenceError):  # someone else marked or forgot it meanwhile
            await self._link.bucket(self._link.layout.dedup).update(claimed.key, entry.encode(), last=claimed.revision)
