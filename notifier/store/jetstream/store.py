"""The shared store: the outbox, the dedup memory and the dead letters in NATS JetStream, for several replicas.

The outbox is a work-queue stream with one subject and one durable pull consumer per channel; the consumer's
`ack_wait` ends a claim, so a claim is one delivery, exclusive across every replica, and the claims of a replica
that dies come back to the others by themselves. The service's store keeps a short `ack_wait` alive with progress
acks while it holds a claim, so a dead replica's claims come back within seconds, not after the whole lease.
A claim's token is its delivery's ack subject: Sent acks it, Retry naks it with the delay (the server keeps the
time), Release naks it at once, Dead copies it to the dead-letter stream, then acks it. A lease that runs out on
the store's clock is given back at the next claim, so that the holder's own clock, not only the server's, ends
it; a holder finishes only what it still holds.

Dedup is a key-value bucket: `create(key)` is the atomic claim of an event across replicas. An entry says
"accepting" until every notification is stored; an event seen again in that state is published again with the
same `Nats-Msg-Id`s, which the stream drops as duplicates within its duplicate window, so a crash between the
two steps loses nothing and stores nothing twice. Past the dedup window (the store's clock) an event is
forgotten once none of its notifications waits in the outbox or among the dead letters.

A channel's pause (Retry-After, backoff) and its rate are shared through a bucket too: `channel_pause` and
`channel_slot`, each one number changed by compare-and-set.

Order within a run: each threaded notification has its run's subject in its channel, so the oldest pending one
of a run is what the server answers for the first message on that subject. A claim hands out a threaded one
only when it is that one; the others it pulled it *keeps*: its deliveries still (so no other replica gets them,
and they do not come back at once), checked again at each claim, their lease on the server renewed every third
of `ack_wait` so that the server never hands them to another replica meanwhile. A Retry is kept the same way until its
time on the store's clock, then given back (nak) for any replica to pull; it stays the oldest of its run, so
its followers wait for it. `close()` gives back what the store holds and keeps.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, PubAck, RawStreamMsg
from nats.js.errors import (
    APIError,
    InvalidKeyError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)
from nats.js.kv import KeyValue

from notifier.clock import Clock, wait_for_event
from notifier.message_ref import MessageRef
from notifier.store.jetstream.layout import (
    Layout,
    channel_token,
    ensure_streams,
)
from notifier.store.jetstream.sizes import DEFAULT_TOTAL
from notifier.store.pauses import next_slot
from notifier.store.protocol import (
    DIGEST_TYPE,
    ChannelStats,
    Claim,
    Dead,
    DeadLetter,
    Destination,
    Health,
    Incoming,
    Noise,
    NoiseVerdict,
    NotificationId,
    Pending,
    Release,
    Retention,
    Retry,
    RunThread,
    Sent,
    StoreError,
    Update,
)

log = logging.getLogger("notifier.store")
# How long one request to NATS may take, and how long start-up waits for the server.
REQUEST_TIMEOUT = 5.0
CONNECT_WAIT = 10.0
# Claims out at once per channel across all replicas (each worker claims 128 at a time).
MAX_ACK_PENDING = 2048
# When claims of other replicas are out and their ends are unknown here: look again this soon.
OTHERS_RECHECK = 1.0
# Compare-and-set tries on a shared pause before giving up (only many replicas pausing at once retry).
CAS_TRIES = 8
ACCEPTING, STORED = "accepting", "stored"
ACK, NAK, PROGRESS = b"+ACK", b"-NAK", b"+WPI"
# The service's ack_wait (see JetStreamStore's `ack_wait`): a replica that dies hands its claims on after this.
SERVICE_ACK_WAIT = 6.0


@dataclass(slots=True)
class _Delivery:
    """One delivery of a notification by its channel's consumer, this store's until acked or nak'ed."""

    # The delivery's ack subject.
    reply: str
    seq: int
    subject: str
    meta: dict[str, Any]
    body: bytes
    # When the server's lease on it began (its delivery, or a renewal), on the store's clock: the server hands it
    # to another consumer `ack_wait` later.
    leased: float
    redelivered: bool
    # While kept (not handed out): the Retry's time, or None while it waits behind its run's `head`.
    due: float | None = None
    head: NotificationId | None = None

    @classmethod
    def of(cls, message: Msg, now: float) -> _Delivery:
        meta, body = _decode(message.data)
        metadata = message.metadata
        return cls(
            message.reply, metadata.sequence.stream, message.subject, meta, body, now, metadata.num_delivered > 1
        )

    @property
    def id(self) -> NotificationId:
        return str(self.meta["id"])

    @property
    def threaded(self) -> bool:
        return bool(self.meta.get("threaded"))

    @property
    def held_until(self) -> float | None:
        """Not None for a notification held for a digest: when the digest of its route and time is due."""
        return None if not self.meta.get("held") else float(self.meta["held_until"])

    @property
    def grouped(self) -> bool:
        """On a subject where only the oldest message may go: a run's, or a held group's (its digest)."""
        return self.threaded or self.held_until is not None


@dataclass(slots=True)
class _Held:
    """A claim this store handed out and has not seen finished, with what finishing it needs."""

    claim: Claim
    channel: str
    attempts: int
    delivery: _Delivery
    # What was handed out: the delivery's own, or for a digest its metadata and the JSON array of its events.
    meta: dict[str, Any]
    body: bytes
    # A digest's other held notifications (sequence, id): deleted once the digest is sent or dead.
    folded: tuple[tuple[int, NotificationId], ...] = ()
    # When its last progress ack was sent (or tried: NATS away), on the store's clock.
    renewed: float = 0.0


@dataclass(frozen=True, slots=True)
class _Entry:
    """A dedup entry: when the event was accepted, whether it is stored whole, and once it is, the event's
    revision (its notifications' ids) and where in the outbox they went."""

    at: float
    state: str
    event: int = 0
    outbox: tuple[int, ...] = ()

    def encode(self) -> bytes:
        return f"{self.at!r} {self.state} {self.event} {','.join(map(str, self.outbox))}".encode()

    @classmethod
    def parse(cls, value: bytes | None) -> _Entry:
        at, state, event, outbox = (value or b"").decode().split(" ")
        return cls(float(at), state, int(event), tuple(int(seq) for seq in outbox.split(",") if seq))


@dataclass(frozen=True, slots=True)
class _Claimed:
    """An event this store is to publish: its dedup key and entry revision (the event's name), and when."""

    key: str
    revision: int
    at: float
    # False when publishing again what a replica that died half-way may have published already.
    new: bool


@dataclass(slots=True)
class _Channel:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    consumer_ready: bool = False
    # Notifications this store gave back or put off, by id: when they are due again (for next_due).
    waiting: dict[NotificationId, float] = field(default_factory=dict)
    # Deliveries this store keeps without handing them out (behind their run's head, or until a Retry's time).
    kept: dict[NotificationId, _Delivery] = field(default_factory=dict)


class JetStreamStore:
    def __init__(
        self,
        url: str,
        prefix: str,
        clock: Clock,
        retention: Retention,
        *,
        lease: float,
        create: bool = True,
        ack_wait: float | None = None,
        max_bytes: int = DEFAULT_TOTAL,
    ) -> None:
        """`prefix` as validated by the settings (NOTIFIER_NATS_PREFIX); `lease`: no claim lasts longer;
        `create=False` for tools that read a service's outbox: nothing missing is created; `max_bytes`
        (NOTIFIER_NATS_MAX_BYTES): what the streams and buckets reserve together.

        `ack_wait` (the consumers' own, default the lease): when shorter than the lease, the store sends a progress
        ack for each claim it holds every third of it, so that the server hands a claim to another replica only
        once its holder is gone (killed, or cut off from NATS), `ack_wait` seconds later, and never while the
        claim waits its turn in a worker's buffer."""
        self._url = url
        self._layout = Layout(prefix, retention, max_bytes)
        self._clock = clock
        self._retention = retention
        self._lease = lease
        self._ack_wait = min(lease, ack_wait or lease)
        self._create = create
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._buckets: dict[str, KeyValue] = {}
        self._held: dict[NotificationId, _Held] = {}
        self._channels: dict[str, _Channel] = {}
        self._kept_changed = asyncio.Event()
        self._tending: asyncio.Task[None] | None = None

    # -- connection ------------------------------------------------------------------------------------

    async def open(self) -> None:
        nc = Client()
        failures: asyncio.Queue[Exception] = asyncio.Queue()

        async def on_error(exc: Exception) -> None:
            if nc.is_connected or self._nc is not None:
                await self._on_error(exc)
            else:
                failures.put_nowait(exc)

        # The client would try forever; at start-up the first failed attempt is the answer, in words.
        connecting = asyncio.ensure_future(
            nc.connect(
                self._url,
                name="keptn-notifier",
                connect_timeout=2,
                reconnect_time_wait=1,
                max_reconnect_attempts=-1,
                error_cb=on_error,
                disconnected_cb=self._on_disconnect,
                reconnected_cb=self._on_reconnect,
            )
        )
        failed = asyncio.ensure_future(failures.get())
        await asyncio.wait((connecting, failed), timeout=CONNECT_WAIT, return_when=asyncio.FIRST_COMPLETED)
        failed.cancel()
        if not connecting.done() or connecting.exception() is not None:
            connecting.cancel()
            exc = connecting.exception() if connecting.done() and not connecting.cancelled() else None
            if exc is None and failed.done() and not failed.cancelled():
                exc = failed.result()
            with contextlib.suppress(BaseException):
                await nc.close()
            reason = f"{type(exc).__name__}: {exc}" if exc is not None else f"no answer within {CONNECT_WAIT:g} s"
            raise StoreError(
                f"cannot reach NATS at {self._url} ({reason}); "
                "start NATS with JetStream, or set NATS_URL to it, or NOTIFIER_STORE=sqlite"
            )
        self._nc = nc
        self._js = nc.jetstream(timeout=REQUEST_TIMEOUT)
        try:
            with self._talking("prepare the JetStream streams"):
                await ensure_streams(self._js, self._layout, create=self._create)
                layout = self._layout
                for bucket in (layout.dedup, layout.refs, layout.attempts, layout.pauses, layout.threads, layout.noise):
                    self._buckets[bucket] = await self._js.key_value(bucket)
        except StoreError:
            await self.close()
            raise
        self._tending = asyncio.create_task(self._tend(), name="tend-nats-deliveries")

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if self._tending is not None:
            self._tending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tending
            self._tending = None
        if nc is None:
            return
        # Give back what is still held or kept, so that another replica need not wait for the lease to run out;
        # a Retry with what is left of its delay.
        now = self._clock.time()
        naks = [(item.claim.token, 0.0) for item in self._held.values() if self._still_ours(item, now)]
        for state in self._channels.values():
            naks.extend((kept.reply, (kept.due or now) - now) for kept in state.kept.values())
            state.kept.clear()
        self._held = {}
        with contextlib.suppress(Exception):
            for reply, delay in naks:
                await nc.publish(reply, _nak(delay))
            await nc.flush(timeout=1)
        with contextlib.suppress(Exception):
            await nc.close()

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS at %s: %s", self._url, exc or type(exc).__name__)

    async def _on_disconnect(self) -> None:
        if self._nc is None:
            return  # our own close
        log.warning("NATS at %s: disconnected, reconnecting", self._url)

    async def _on_reconnect(self) -> None:
        log.info("NATS at %s: reconnected", self._url)

    def _connected(self) -> tuple[Client, JetStreamContext]:
        if self._nc is None or self._js is None:
            raise StoreError("the store is closed")
        return self._nc, self._js

    @contextlib.contextmanager
    def _talking(self, what: str) -> Iterator[None]:
        """NATS failures as StoreErrors that say what could not be done (a lost server is no traceback)."""
        try:
            yield
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            detail = exc.description if isinstance(exc, APIError) and exc.description else str(exc) or repr(exc)
            raise StoreError(f"cannot {what}: NATS {type(exc).__name__}: {detail}") from None

    def _bucket(self, name: str) -> KeyValue:
        self._connected()
        return self._buckets[name]

    def _channel(self, name: str) -> _Channel:
        return self._channels.setdefault(name, _Channel())

    # -- accepting -------------------------------------------------------------------------------------

    async def accept(self, items: Sequence[Incoming]) -> list[bool]:
        _, js = self._connected()
        now = self._clock.time()
        fresh = [False] * len(items)
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            first.setdefault(item.key, index)
        unique = sorted(first.values())
        with self._talking("store the events"):
            outcomes = await asyncio.gather(*(self._claim_key(items[index].key, now) for index in unique))
            published: list[tuple[_Claimed, list[asyncio.Future[PubAck]]]] = []
            # Published one by one in order (each only queues its write), so each channel's order is the events'.
            for index, claimed in zip(unique, outcomes, strict=True):
                if claimed is None:
                    continue
                fresh[index] = claimed.new
                verdicts = await self._decide_noise(items[index], claimed, now)
                published.append((claimed, await self._publish_notifications(js, items[index], claimed, verdicts)))
            await asyncio.wait_for(asyncio.gather(*(ack for _, acks in published for ack in acks)), REQUEST_TIMEOUT)
            await asyncio.gather(
                *(self._mark_stored(claimed, [ack.result().seq for ack in acks]) for claimed, acks in published)
            )
        return fresh

    async def _claim_key(self, event_key: str, now: float) -> _Claimed | None:
        """Claim an event across replicas: what to publish, or None for a duplicate.

        The revision of the dedup entry names the event: its notifications' ids and `Nats-Msg-Id`s derive from it.
        """
        bucket = self._bucket(self._layout.dedup)
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
        _, js = self._connected()
        for index, seq in enumerate(entry.outbox):
            with contextlib.suppress(NotFoundError):
                await js.get_msg(self._layout.outbox, seq=seq)
                return True
            with contextlib.suppress(NotFoundError):
                await js.get_last_msg(self._layout.dead, self._layout.dead_subject(f"{entry.event}-{index}"))
                return True
        return False

    async def _decide_noise(self, item: Incoming, claimed: _Claimed, now: float) -> list[NoiseVerdict | None]:
        """Each destination's noise verdict (None: no noise control), in order, each with the memory so far."""
        verdicts: list[NoiseVerdict | None] = []
        for index, destination in enumerate(item.destinations):
            noise = destination.noise
            if noise is not None:
                noise.applied = await self._decide_one(destination, noise, f"{claimed.revision}-{index}", now)
            verdicts.append(None if noise is None else noise.applied)
        return verdicts

    async def _decide_one(self, destination: Destination, noise: Noise, notification: str, now: float) -> NoiseVerdict:
        """Decide with the (route, channel)'s memory and write what the verdict says to remember, by
        compare-and-set: replicas deciding at once for one route and channel decide one after the other.

        A repeat key remembers the notification that set it: deciding that one again (its replica died before
        storing it) must not find it a repeat of itself.
        """
        bucket = self._bucket(self._layout.noise)
        key = _pair_key(destination.route, destination.channel)
        for _ in range(CAS_TRIES):
            try:
                entry = await bucket.get(key)
                memory, revision = orjson.loads(entry.value or b"{}"), entry.revision or 0
            except KeyNotFoundError:
                memory, revision = {}, 0
            repeats = {name: sent for name, sent in memory.get("repeats", {}).items() if sent[1] >= now}
            window = memory.get("window")
            last = None if noise.key is None else repeats.get(noise.key)
            verdict = noise.decide(
                now,
                None if last is None or last[2] == notification else last[0],
                None if window is None else base64.b64decode(window),
            )
            if verdict.window is not None:
                window = base64.b64encode(verdict.window).decode()
            if noise.key is not None and verdict.sent_until is not None:
                repeats[noise.key] = [now, verdict.sent_until, notification]
            value = orjson.dumps({"window": window, "repeats": repeats})
            try:
                if revision:
                    await bucket.update(key, value, last=revision)
                else:
                    await bucket.create(key, value)
            except KeyWrongLastSequenceError:
                continue
            return verdict
        raise StoreError(
            f"cannot decide noise control for route {destination.route}, channel {destination.channel}: "
            f"{CAS_TRIES} other replicas changed its memory meanwhile"
        )

    async def _publish_notifications(
        self, js: JetStreamContext, item: Incoming, claimed: _Claimed, verdicts: list[NoiseVerdict | None]
    ) -> list[asyncio.Future[PubAck]]:
        revision = claimed.revision
        acks = []
        for index, (destination, verdict) in enumerate(zip(item.destinations, verdicts, strict=True)):
            if verdict is not None and not verdict.keep:
                continue  # a repeat: nothing of it is stored
            notification = f"{revision}-{index}"
            meta = {
                "id": notification,
                "event": str(revision),
                "channel": destination.channel,
                "route": destination.route,
                "template": destination.template,
                "type": item.type,
                "context": item.context,
                "created": claimed.at,
                "generation": 0,
                "threaded": destination.threaded,
                "broadcast": destination.broadcast,
            }
            subject = self._layout.outbox_subject(destination.channel, item.context if destination.threaded else None)
            if verdict is not None and verdict.held:
                # Held for a digest: never threaded, so that it does not hold up its run; on the subject of its
                # route and time, whose oldest message becomes the digest of them all when the time comes.
                meta.update(threaded=False, broadcast=False, held=verdict.held, held_until=verdict.held_until)
                subject = self._layout.held_subject(destination.channel, destination.route, verdict.held_until)
            acks.append(
                await js.publish_async(subject, _encode(meta, item.body), headers={"Nats-Msg-Id": notification})
            )
        return acks

    async def _mark_stored(self, claimed: _Claimed, outbox: list[int]) -> None:
        """The event is stored whole; where its notifications are tells, past the window, whether all were sent."""
        entry = _Entry(claimed.at, STORED, claimed.revision, tuple(outbox))
        with contextlib.suppress(KeyWrongLastSequenceError):  # someone else marked or forgot it meanwhile
            await self._bucket(self._layout.dedup).update(claimed.key, entry.encode(), last=claimed.revision)

    # -- claiming --------------------------------------------------------------------------------------

    async def claim(self, channel: str, limit: int, lease: float) -> list[Pending]:
        nc, js = self._connected()
        state = self._channel(channel)
        # One pull at a time per channel in this process; the server keeps replicas apart.
        async with state.lock:
            now = self._clock.time()
            with self._talking(f"claim notifications of channel {channel}"):
                await self._give_back_lapsed(nc, channel, now)
                await self._tend_due(channel, state)  # a Retry whose time came goes back before the pull
                await self._ensure_consumer(js, channel, state)
                # Those kept behind their run's head first: they are older than anything a pull brings.
                behind = sorted((kept for kept in state.kept.values() if kept.due is None), key=lambda k: k.seq)
                ready = await self._heads_of_their_runs(js, state, behind, limit)
                if len(ready) < limit:
                    pulled = [
                        _Delivery.of(message, now) for message in await self._pull(nc, channel, limit - len(ready))
                    ]
                    for delivery in pulled:
                        state.kept.pop(delivery.id, None)  # the server gave it again: this delivery is the one
                    ready += await self._heads_of_their_runs(js, state, pulled, limit - len(ready))
                self._kept_changed.set()
                return [
                    await self._hand_out(channel, state, delivery, now, lease)
                    for delivery in sorted(ready, key=lambda d: d.seq)
                ]

    async def _heads_of_their_runs(
        self, js: JetStreamContext, state: _Channel, deliveries: list[_Delivery], limit: int
    ) -> list[_Delivery]:
        """The deliveries that may go now: unthreaded ones, and threaded ones that are the oldest of their run.

        The others are kept, each knowing its run's head (the oldest message on its subject, the server's answer).
        """
        runs = sorted({delivery.subject for delivery in deliveries if delivery.grouped})
        firsts = await asyncio.gather(*(self._first_of(js, subject) for subject in runs))
        head = dict(zip(runs, firsts, strict=True))
        ready: list[_Delivery] = []
        now = self._clock.time()
        for delivery in deliveries:
            first = head.get(delivery.subject)
            is_head = not delivery.grouped or (first is not None and first[0] == delivery.seq)
            held_until = delivery.held_until
            if is_head and held_until is not None and held_until > now:
                delivery.due, delivery.head = held_until, None  # its digest is not due yet
                state.kept[delivery.id] = delivery
            elif is_head and len(ready) < limit:
                state.kept.pop(delivery.id, None)
                ready.append(delivery)
            else:
                delivery.due = None
                delivery.head = None if first is None else first[1]
                state.kept[delivery.id] = delivery
        return ready

    async def _first_of(self, js: JetStreamContext, subject: str) -> tuple[int, NotificationId] | None:
        """The sequence and id of the oldest message on a subject, None if none is left."""
        try:
            first = await js.get_msg(self._layout.outbox, seq=1, subject=subject, next=True)
        except NotFoundError:
            return None
        meta, _ = _decode(first.data)
        return first.seq or 0, str(meta["id"])

    async def _hand_out(self, channel: str, state: _Channel, delivery: _Delivery, now: float, lease: float) -> Pending:
        meta, body = delivery.meta, delivery.body
        folded: tuple[tuple[int, NotificationId], ...] = ()
        if delivery.held_until is not None:
            meta, body, folded = await self._fold(delivery)
        attempts = await self._attempts(meta) if delivery.redelivered else 0
        # The server's lease runs from the delivery, also for one that was kept for a while.
        claim = Claim(delivery.id, delivery.reply, min(now + lease, delivery.leased + self._lease))
        self._held[claim.id] = _Held(claim, channel, attempts, delivery, meta, body, folded, delivery.leased)
        state.waiting.pop(claim.id, None)
        return Pending(
            claim,
            meta["event"],
            channel,
            meta["route"],
            meta["template"],
            attempts,
            meta["created"],
            body,
            meta["context"],
            delivery.threaded,
            bool(meta.get("broadcast")),
            meta.get("digest", ""),
        )

    async def _fold(self, head: _Delivery) -> tuple[dict[str, Any], bytes, tuple[tuple[int, NotificationId], ...]]:
        """The digest of a held group whose time came, made by whoever holds its oldest message: the metadata,
        the JSON array of the held events in accepted order, and the others it stands for.

        Read again at each attempt; the others are deleted only once it is sent (or dead), so nothing held is
        lost and, as only one replica holds the oldest, no two digests of one group go out at once.
        """
        _, js = self._connected()
        bodies, words, folded = [head.body], {str(head.meta["held"])}, []
        seq = head.seq + 1
        while True:
            try:
                message = await js.get_msg(self._layout.outbox, seq=seq, subject=head.subject, next=True)
            except NotFoundError:
                break
            meta, body = _decode(message.data)
            bodies.append(body)
            words.add(str(meta["held"]))
            folded.append((message.seq or seq, str(meta["id"])))
            seq = (message.seq or seq) + 1
        meta = {key: value for key, value in head.meta.items() if key not in ("held", "held_until")}
        meta.update(type=DIGEST_TYPE, context="", digest=",".join(sorted(words)))
        return meta, b"[" + b",".join(bodies) + b"]", tuple(folded)

    async def _tend(self) -> None:
        """Tend this store's deliveries as their times come, as long as it is open: renew the server's lease on
        the kept ones and (under progress acks) the held ones every third of `ack_wait`, and give a kept Retry back
        (nak) at its time, for whichever replica pulls it first.

        Renewed, so that the server never hands one to another replica while this store has it.
        """
        while True:
            self._kept_changed.clear()
            times = [self._tend_at(kept) for state in self._channels.values() for kept in state.kept.values()]
            times.extend(at for held in self._held.values() if (at := self._renew_at(held)) is not None)
            if not times:
                await self._kept_changed.wait()
                continue
            wait = min(times) - self._clock.time()
            if wait > 0:
                await wait_for_event(self._clock, self._kept_changed, wait)
                continue
            now = self._clock.time()
            await self._renew_held(now)
            for name, state in list(self._channels.items()):
                if all(self._tend_at(kept) > now for kept in state.kept.values()):
                    continue
                async with state.lock:
                    try:
                        await self._tend_due(name, state)
                    except StoreError as exc:
                        log.warning("%s", exc)

    def _renew_at(self, held: _Held) -> float | None:
        """When a held claim's next progress ack is due: None without progress acks (the server's lease is then
        the claim's own), or near the claim's end, which is left to lapse on the server too."""
        if self._ack_wait >= self._lease or held.claim.until - self._clock.time() <= self._ack_wait:
            return None
        return held.renewed + self._ack_wait / 3

    async def _renew_held(self, now: float) -> None:
        """Progress acks for the held claims that are due one; not waited for (a lost one lets the claim lapse)."""
        due = [held for held in self._held.values() if (at := self._renew_at(held)) is not None and at <= now]
        nc = self._nc
        for held in due:
            held.renewed = now
        if nc is None or not nc.is_connected:
            return
        with contextlib.suppress(nats.errors.Error, OSError):
            for held in due:
                await nc.publish(held.claim.token, PROGRESS)

    def _tend_at(self, kept: _Delivery) -> float:
        renew = kept.leased + self._ack_wait / 3
        return renew if kept.due is None else min(kept.due, renew)

    async def _tend_due(self, channel: str, state: _Channel) -> None:
        nc, _ = self._connected()
        now = self._clock.time()
        try:
            await self._tend_due_ones(nc, channel, state, now)
        except StoreError:
            # Let go of them: they come back to some replica when the server's lease runs out (a nak or renewal
            # later, once the server gave one to another replica, would take it from that one).
            state.kept.clear()
            raise

    async def _tend_due_ones(self, nc: Client, channel: str, state: _Channel, now: float) -> None:
        with self._talking(f"keep notifications of channel {channel}"):
            for kept in [kept for kept in state.kept.values() if self._tend_at(kept) <= now]:
                if kept.due is not None and kept.due <= now:
                    del state.kept[kept.id]
                    await nc.request(kept.reply, NAK, timeout=REQUEST_TIMEOUT)
                    state.waiting[kept.id] = now
                else:
                    await nc.request(kept.reply, PROGRESS, timeout=REQUEST_TIMEOUT)
                    kept.leased = now

    async def _give_back_lapsed(self, nc: Client, channel: str, now: float) -> None:
        """Forget the claims whose lease ran out on the store's clock, and give back those still ours."""
        lapsed = [h for h in self._held.values() if h.channel == channel and h.claim.until <= now]
        for held in lapsed:
            del self._held[held.claim.id]
            if self._still_ours(held, now):
                await nc.request(held.claim.token, NAK, timeout=REQUEST_TIMEOUT)

    def _still_ours(self, held: _Held, now: float) -> bool:
        """Whether the server still counts a held claim as this store's delivery, so that a nak gives it back.

        Under progress acks (`ack_wait` shorter than the lease) the acks stop an `ack_wait` before a claim's end,
        so the server has handed a lapsed one on by then: a nak would take it from its new holder. Without them
        the server's lease is the claim's own, and the nak makes a lapsed one claimable at once.
        """
        return held.claim.until > now or self._ack_wait >= self._lease

    async def _ensure_consumer(self, js: JetStreamContext, channel: str, state: _Channel) -> None:
        if state.consumer_ready:
            return
        name = self._layout.consumer(channel)
        subject = self._layout.channel_subjects(channel)
        try:
            existing = (await js.consumer_info(self._layout.outbox, name)).config
        except NotFoundError:
            await js.add_consumer(
                self._layout.outbox,
                ConsumerConfig(
                    durable_name=name,
                    description=f"keptn-notifier: channel {channel}",
                    filter_subject=subject,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=self._ack_wait,
                    max_deliver=-1,
                    max_ack_pending=MAX_ACK_PENDING,
                ),
            )
        else:
            if existing.filter_subject != subject or abs((existing.ack_wait or 0) - self._ack_wait) > 0.001:
                raise StoreError(
                    f"NATS consumer {name} already exists with other settings: ack_wait {existing.ack_wait} s and "
                    f"filter {existing.filter_subject}, but this service wants {self._ack_wait:g} s and {subject}. "
                    f"Delete it (nats consumer rm {self._layout.outbox} {name}); its notifications stay"
                )
        state.consumer_ready = True

    async def _pull(self, nc: Client, channel: str, limit: int) -> list[Msg]:
        """Up to `limit` messages that are there now: a no-wait pull request, which never waits for new ones."""
        inbox = nc.new_inbox()
        subscription = await nc.subscribe(inbox)
        messages: list[Msg] = []
        try:
            request = orjson.dumps({"batch": limit, "no_wait": True})
            consumer = self._layout.consumer(channel)
            await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{self._layout.outbox}.{consumer}", request, reply=inbox)
            while len(messages) < limit:
                try:
                    message = await subscription.next_msg(timeout=REQUEST_TIMEOUT)
                except nats.errors.TimeoutError:
                    if messages:
                        break  # what came is ours; the rest of the request lapses on the server
                    raise
                status = (message.headers or {}).get("Status")
                if status is None:
                    messages.append(message)
                elif status != "100":  # not a heartbeat: 404 no messages, 408 request over, 409 limits
                    break
        finally:
            await subscription.unsubscribe()
        return messages

    async def _attempts(self, meta: dict[str, Any]) -> int:
        try:
            entry = await self._bucket(self._layout.attempts).get(_attempts_key(meta))
        except KeyNotFoundError:
            return 0
        return int(entry.value or b"0")

    async def next_due(self, channel: str) -> float | None:
        _, js = self._connected()
        now = self._clock.time()
        state = self._channel(channel)
        # Entries another replica may have taken since are dropped once a lease has passed.
        state.waiting = {id_: at for id_, at in state.waiting.items() if at > now - self._lease}
        known = [h.claim.until for h in self._held.values() if h.channel == channel]
        known.extend(state.waiting.values())
        known.extend(self._kept_due(state, kept, now) for kept in state.kept.values())
        with self._talking(f"read the outbox of channel {channel}"):
            try:
                info = await js.consumer_info(self._layout.outbox, self._layout.consumer(channel))
            except NotFoundError:
                # Nobody claimed on this channel yet: all it holds is due.
                count = await self._subject_counts(js, self._layout.channel_subjects(channel))
                return now if count else min(known, default=None)
        if info.num_pending and (info.num_ack_pending or 0) < MAX_ACK_PENDING:
            return now
        if (info.num_ack_pending or 0) > len(known):
            known.append(now + OTHERS_RECHECK)
        return min(known, default=None)

    def _kept_due(self, state: _Channel, kept: _Delivery, now: float) -> float:
        """When a kept one may go: a Retry at its time; one behind its run's head when the head is done, which
        is known here only for a head this store holds or keeps."""
        if kept.due is not None:
            return kept.due
        if kept.head == kept.id:
            return now  # the oldest of its run, kept only because the claim that pulled it had enough
        if kept.head in self._held:
            return self._held[kept.head].claim.until
        if kept.head in state.kept:
            return self._kept_due(state, state.kept[kept.head], now)
        if kept.head in state.waiting:
            return state.waiting[kept.head]
        return now + OTHERS_RECHECK

    async def _subject_counts(self, js: JetStreamContext, subjects: str) -> dict[str, int]:
        info = await js.stream_info(self._layout.outbox, subjects_filter=subjects)
        return {subject: count for subject, count in (info.state.subjects or {}).items() if count}

    # -- finishing -------------------------------------------------------------------------------------

    async def finish(self, updates: Sequence[Update]) -> None:
        nc, js = self._connected()
        now = self._clock.time()
        for update in updates:
            held = self._held.get(update.claim.id)
            if held is None or held.claim.token != update.claim.token:
                continue  # finished already, or claimed again since
            del self._held[held.claim.id]
            with self._talking(f"record the outcome of notification {held.claim.id}"):
                await self._finish_one(nc, js, held, update, now)

    async def _finish_one(self, nc: Client, js: JetStreamContext, held: _Held, update: Update, now: float) -> None:
        token = held.claim.token
        waiting = self._channel(held.channel).waiting
        if isinstance(update, Sent):
            if update.ref is not None:
                ref = orjson.dumps({"conversation": update.ref.conversation, "id": update.ref.id})
                await self._bucket(self._layout.refs).put(held.claim.id, ref)
            await self._drop_folded(js, held)
            await nc.request(token, ACK, timeout=REQUEST_TIMEOUT)
        elif isinstance(update, Retry):
            await self._bucket(self._layout.attempts).put(_attempts_key(held.meta), str(held.attempts + 1).encode())
            # Kept until its time on the store's clock (still first of its run); the timer gives it back then.
            held.delivery.due = update.next_at
            self._channel(held.channel).kept[held.claim.id] = held.delivery
            self._kept_changed.set()
        elif isinstance(update, Dead):
            letter = {**held.meta, "reason": update.reason, "attempts": held.attempts + 1, "died": update.at}
            await js.publish(
                self._layout.dead_subject(held.claim.id),
                _encode(letter, held.body),
                headers={"Nats-Msg-Id": f"{_attempts_key(held.meta)}.dead"},
            )
            await self._drop_folded(js, held)
            await nc.request(token, ACK, timeout=REQUEST_TIMEOUT)
        else:
            assert isinstance(update, Release)
            await nc.request(token, NAK, timeout=REQUEST_TIMEOUT)
            waiting[held.claim.id] = now

    async def _drop_folded(self, js: JetStreamContext, held: _Held) -> None:
        """Delete the held notifications a digest stood for (another replica may keep one: it is gone for it too)."""
        kept = self._channel(held.channel).kept
        for seq, notification in held.folded:
            kept.pop(notification, None)
            with contextlib.suppress(NotFoundError):
                await js.delete_msg(self._layout.outbox, seq)

    async def run_thread(self, channel: str, context: str) -> RunThread | None:
        self._connected()
        with self._talking("read a run's thread"):
            try:
                entry = await self._bucket(self._layout.threads).get(_pair_key(channel, context))
            except (KeyNotFoundError, InvalidKeyError):
                return None
        found = orjson.loads(entry.value or b"{}")
        if not found or found["started"] < self._clock.time() - self._retention.thread_max_age:
            return None
        ref = MessageRef(found["conversation"], found["id"])
        return RunThread(ref, base64.b64decode(found["state"]), found["started"])

    async def save_run_thread(self, channel: str, context: str, thread: RunThread) -> None:
        self._connected()
        document = {
            "conversation": thread.ref.conversation,
            "id": thread.ref.id,
            "state": base64.b64encode(thread.state).decode(),
            "started": thread.started,
        }
        with self._talking("save a run's thread"):
            await self._bucket(self._layout.threads).put(_pair_key(channel, context), orjson.dumps(document))

    async def message_ref(self, notification: NotificationId) -> MessageRef | None:
        self._connected()
        with self._talking("read a message reference"):
            try:
                entry = await self._bucket(self._layout.refs).get(notification)
            except (KeyNotFoundError, InvalidKeyError):
                return None
        found = orjson.loads(entry.value or b"{}")
        return MessageRef(found["conversation"], found["id"])

    # -- reading and dead letters ----------------------------------------------------------------------

    async def stats(self) -> dict[str, ChannelStats]:
        _, js = self._connected()
        with self._talking("read the outbox"):
            counts: dict[str, int] = {}
            for subject, count in (await self._subject_counts(js, f"{self._layout.prefix}.outbox.>")).items():
                channel = self._layout.channel_of_subject(subject)
                counts[channel] = counts.get(channel, 0) + count
            stats = {}
            for channel, count in counts.items():
                subjects = self._layout.channel_subjects(channel)
                try:
                    oldest = await js.get_msg(self._layout.outbox, seq=1, subject=subjects, next=True)
                except NotFoundError:
                    continue  # sent since it was counted
                meta, _ = _decode(oldest.data)
                stats[channel] = ChannelStats(count, meta["created"])
        return stats

    async def _dead_messages(self) -> list[RawStreamMsg]:
        _, js = self._connected()
        found: list[RawStreamMsg] = []
        seq = 1
        every = f"{self._layout.prefix}.dead.>"
        while True:
            try:
                message = await js.get_msg(self._layout.dead, seq=seq, subject=every, next=True)
            except NotFoundError:
                return found
            found.append(message)
            seq = (message.seq or seq) + 1

    async def dead_letters(self) -> list[DeadLetter]:
        with self._talking("read the dead letters"):
            messages = await self._dead_messages()
        letters = []
        for message in messages:
            meta, body = _decode(message.data)
            letters.append(
                DeadLetter(
                    meta["id"],
                    meta["channel"],
                    meta["route"],
                    meta["type"],
                    body,
                    meta["reason"],
                    meta["attempts"],
                    meta["created"],
                    meta["died"],
                )
            )
        return letters

    async def retry_dead(self, ids: Collection[NotificationId] | None) -> int:
        _, js = self._connected()
        now = self._clock.time()
        wanted = None if ids is None else set(ids)
        count = 0
        with self._talking("queue dead letters again"):
            for message in await self._dead_messages():
                meta, body = _decode(message.data)
                if wanted is not None and meta["id"] not in wanted:
                    continue
                for name in ("reason", "attempts", "died"):
                    meta.pop(name)
                # A new generation: its attempts count from zero, and its publish is not a repeat of the first.
                meta.update(created=now, generation=message.seq)
                await js.publish(
                    self._layout.outbox_subject(meta["channel"], meta["context"] if meta.get("threaded") else None),
                    _encode(meta, body),
                    headers={"Nats-Msg-Id": _attempts_key(meta)},
                )
                await js.delete_msg(self._layout.dead, message.seq or 0)
                count += 1
        return count

    async def purge_dead(self, older_than: float) -> int:
        _, js = self._connected()
        cutoff = self._clock.time() - older_than
        count = 0
        with self._talking("purge dead letters"):
            for message in await self._dead_messages():
                meta, _ = _decode(message.data)
                if meta["died"] < cutoff:
                    await js.delete_msg(self._layout.dead, message.seq or 0)
                    count += 1
        return count

    async def health(self) -> Health:
        if self._nc is None or self._js is None:
            return Health("the state store is closed")
        if not self._nc.is_connected:
            return Health(f"NATS at {self._url} is not connected (reconnecting)")
        try:
            with self._talking("read the outbox stream"):
                info = await self._js.stream_info(self._layout.outbox)
        except StoreError as exc:
            return Health(str(exc))
        # Its size is the service's share of NOTIFIER_NATS_MAX_BYTES, as start-up set it.
        limit = info.config.max_bytes or 0
        if limit > 0 and info.state.bytes >= limit * 0.99:
            return Health(f"the outbox stream {self._layout.outbox} is full")
        return Health()

    # -- shared pacing ---------------------------------------------------------------------------------

    async def channel_pause(self, channel: str, until: float = 0.0) -> float:
        """The channel's pause shared by every replica, extended to at least `until` (wall seconds)."""

        def extend(current: float) -> tuple[float, float | None]:
            return (current, None) if until <= current else (until, until)

        return await self._change_shared(channel_token(channel), f"share the pause of channel {channel}", extend)

    async def channel_slot(self, channel: str, interval: float, burst: int) -> float:
        """The channel's next send reserved among every replica: one shared `due` time (GCRA), compare-and-set."""

        def reserve(due: float) -> tuple[float, float | None]:
            return next_slot(due, self._clock.time(), interval, burst)

        return await self._change_shared(
            f"{channel_token(channel)}.slot", f"share the rate of channel {channel}", reserve
        )

    async def _change_shared(self, key: str, what: str, change: Callable[[float], tuple[float, float | None]]) -> float:
        """Read a number in the pauses bucket and write what `change` makes of it, by compare-and-set.

        `change` answers (what to return, the new number or None to write nothing); a write that another replica
        beat is tried again on what that one wrote.
        """
        bucket = self._bucket(self._layout.pauses)
        with self._talking(what):
            for _ in range(CAS_TRIES):
                try:
                    entry = await bucket.get(key)
                    current, revision = float(entry.value or b"0"), entry.revision or 0
                except KeyNotFoundError:
                    current, revision = 0.0, 0
                answer, new = change(current)
                if new is None:
                    return answer
                try:
                    if revision:
                        await bucket.update(key, repr(new).encode(), last=revision)
                    else:
                        await bucket.create(key, repr(new).encode())
                except KeyWrongLastSequenceError:
                    continue
                return answer
        raise StoreError(f"cannot {what}: {CAS_TRIES} other replicas changed it meanwhile")


def _nak(delay: float) -> bytes:
    """A nak that makes the server hand the message out again in `delay` seconds (at once when none)."""
    return NAK + b" " + orjson.dumps({"delay": int(delay * 1e9)}) if delay > 0 else NAK


def _pair_key(first: str, second: str) -> str:
    """A KV key for any two names (channel and context, route and channel): key characters are limited, so both
    go base64url-encoded."""
    return base64.urlsafe_b64encode(f"{first}\0{second}".encode()).decode().rstrip("=")


def _encode(meta: dict[str, Any], body: bytes) -> bytes:
    # orjson writes no raw newline, so the first one ends the metadata.
    return orjson.dumps(meta) + b"\n" + body


def _decode(data: bytes | None) -> tuple[dict[str, Any], bytes]:
    head, _, body = (data or b"").partition(b"\n")
    meta: dict[str, Any] = orjson.loads(head)
    return meta, body


def _attempts_key(meta: dict[str, Any]) -> str:
    return f"{meta['id']}.{meta['generation']}"
