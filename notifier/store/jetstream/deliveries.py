"""The deliveries one store has of its channels' consumers: those it handed out as claims (held) and those it
pulled but may not hand out yet (kept), and the timer that tends both while the store is open.

A kept delivery waits behind the oldest of its order key or group (its head), or for its time (a Retry's, or a
notification not due yet). Kept, it is still this store's delivery, so no other replica gets it and it does not
come back at once; the timer renews the server's lease on it every third of `ack_wait` and, at its time, gives a
Retry back (nak) for whichever replica pulls it first. Under progress acks (`ack_wait` shorter than the lease)
the held ones are renewed the same way, so that the server hands a claim on only once its holder is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import nats.errors
from nats.aio.msg import Msg

from notifier.clock import Clock, wait_for_event
from notifier.store.jetstream.connection import REQUEST_TIMEOUT, Link, talking
from notifier.store.jetstream.messages import NAK, PROGRESS, Meta, decode, nak
from notifier.store.protocol import Claim, NotificationId, StoreError

log = logging.getLogger("notifier.store")
# When claims of other replicas are out and their ends are unknown here: look again this soon.
OTHERS_RECHECK = 1.0


@dataclass(slots=True)
class Delivery:
    """One delivery of a notification by its channel's consumer, this store's until acked or nak'ed."""

    # The delivery's ack subject.
    reply: str
    seq: int
    subject: str
    meta: Meta
    body: bytes
    # When the server's lease on it began (its delivery, or a renewal), on the store's clock: the server hands it
    # to another consumer `ack_wait` later.
    leased: float
    redelivered: bool
    # While kept (not handed out): when it may go (a Retry's time, or its own), or None while it waits behind
    # its `head`, the oldest message on its subject.
    due: float | None = None
    head: NotificationId | None = None

    @classmethod
    def of(cls, message: Msg, now: float) -> Delivery:
        meta, body = decode(message.data)
        metadata = message.metadata
        return cls(
            message.reply, metadata.sequence.stream, message.subject, meta, body, now, metadata.num_delivered > 1
        )

    @property
    def id(self) -> NotificationId:
        return self.meta.id


@dataclass(frozen=True, slots=True)
class Follower:
    """A group's notification claimed with its head: finishing the head's claim finishes it too."""

    seq: int
    meta: Meta
    body: bytes


@dataclass(slots=True)
class Held:
    """A claim this store handed out and has not seen finished, with what finishing it needs."""

    claim: Claim
    channel: str
    attempts: int
    delivery: Delivery
    followers: tuple[Follower, ...] = ()
    # When its last progress ack was sent (or tried: NATS away), on the store's clock.
    renewed: float = 0.0


@dataclass(slots=True)
class ChannelState:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    consumer_ready: bool = False
    # Notifications this store gave back or put off, by id: when they are due again (for next_due).
    waiting: dict[NotificationId, float] = field(default_factory=dict)
    # Deliveries this store keeps without handing them out.
    kept: dict[NotificationId, Delivery] = field(default_factory=dict)


class Deliveries:
    def __init__(self, link: Link, clock: Clock, *, lease: float, ack_wait: float) -> None:
        self._link = link
        self._clock = clock
        self.lease = lease
        self.ack_wait = ack_wait
        self.held: dict[NotificationId, Held] = {}
        self._channels: dict[str, ChannelState] = {}
        self._changed = asyncio.Event()
        self._tending: asyncio.Task[None] | None = None
        # Ends the timer even where a cancellation is lost: nats-py swallows one that lands in its flush.
        self._stopping = False

    def channel(self, name: str) -> ChannelState:
        return self._channels.setdefault(name, ChannelState())

    def changed(self) -> None:
        """Something kept or held changed: the timer looks at its times again."""
        self._changed.set()

    def start(self) -> None:
        self._stopping = False
        self._tending = asyncio.create_task(self._tend(), name="tend-nats-deliveries")

    async def stop(self) -> list[tuple[str, bytes]]:
        """Stop tending and let go of everything; the naks that give back what is still this store's (a Retry
        with what is left of its delay), so that another replica need not wait for the lease to run out."""
        if self._tending is not None:
            self._stopping = True
            self._changed.set()
            self._tending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tending
            self._tending = None
        now = self._clock.time()
        naks = [(held.claim.token, NAK) for held in self.held.values() if self.still_ours(held, now)]
        for state in self._channels.values():
            naks.extend((kept.reply, nak((kept.due or now) - now)) for kept in state.kept.values())
            state.kept.clear()
        self.held = {}
        return naks

    def still_ours(self, held: Held, now: float) -> bool:
        """Whether the server still counts a held claim as this store's delivery, so that a nak gives it back.

        Under progress acks the acks stop an `ack_wait` before a claim's end, so the server has handed a lapsed
        one on by then: a nak would take it from its new holder. Without them the server's lease is the claim's
        own, and the nak makes a lapsed one claimable at once.
        """
        return held.claim.until > now or self.ack_wait >= self.lease

    async def give_back_lapsed(self, channel: str, now: float) -> None:
        """Forget the claims whose lease ran out on the store's clock, and give back those still ours."""
        nc, _ = self._link.connected()
        lapsed = [h for h in self.held.values() if h.channel == channel and h.claim.until <= now]
        for held in lapsed:
            del self.held[held.claim.id]
            if self.still_ours(held, now):
                await nc.request(held.claim.token, NAK, timeout=REQUEST_TIMEOUT)

    def kept_due(self, state: ChannelState, kept: Delivery, now: float) -> float:
        """When a kept one may go: at its time; one behind its head when the head is done, which is known here
        only for a head this store holds or keeps."""
        if kept.due is not None:
            return kept.due
        if kept.head == kept.id:
            return now  # a head, kept only because the claim that pulled it had enough
        if kept.head in self.held:
            return self.held[kept.head].claim.until
        if kept.head in state.kept:
            return self.kept_due(state, state.kept[kept.head], now)
        if kept.head in state.waiting:
            return state.waiting[kept.head]
        return now + OTHERS_RECHECK

    async def tend_due(self, channel: str, state: ChannelState) -> None:
        """Renew or give back the channel's kept deliveries whose time came (under the channel's lock)."""
        nc, _ = self._link.connected()
        now = self._clock.time()
        try:
            with talking(f"keep notifications of channel {channel}"):
                for kept in [kept for kept in state.kept.values() if self._tend_at(kept) <= now]:
                    if kept.due is not None and kept.due <= now:
                        del state.kept[kept.id]
                        await nc.request(kept.reply, NAK, timeout=REQUEST_TIMEOUT)
                        state.waiting[kept.id] = now
                    else:
                        await nc.request(kept.reply, PROGRESS, timeout=REQUEST_TIMEOUT)
                        kept.leased = now
        except StoreError:
            # Let go of them: they come back to some replica when the server's lease runs out (a nak or renewal
            # later, once the server gave one to another replica, would take it from that one).
            state.kept.clear()
            raise

    async def _tend(self) -> None:
        """Tend the deliveries as their times come, as long as the store is open."""
        while not self._stopping:
            self._changed.clear()
            times = [self._tend_at(kept) for state in self._channels.values() for kept in state.kept.values()]
            times.extend(at for held in self.held.values() if (at := self._renew_at(held)) is not None)
            if not times:
                await self._changed.wait()
                continue
            wait = min(times) - self._clock.time()
            if wait > 0:
                await wait_for_event(self._clock, self._changed, wait)
                continue
            now = self._clock.time()
            await self._renew_held(now)
            for name, state in list(self._channels.items()):
                if all(self._tend_at(kept) > now for kept in state.kept.values()):
                    continue
                async with state.lock:
                    try:
                        await self.tend_due(name, state)
                    except StoreError as exc:
                        log.warning("%s", exc)

    def _tend_at(self, kept: Delivery) -> float:
        renew = kept.leased + self.ack_wait / 3
        return renew if kept.due is None else min(kept.due, renew)

    def _renew_at(self, held: Held) -> float | None:
        """When a held claim's next progress ack is due: None without progress acks (the server's lease is then
        the claim's own), or near the claim's end, which is left to lapse on the server too."""
        if self.ack_wait >= self.lease or held.claim.until - self._clock.time() <= self.ack_wait:
            return None
        return held.renewed + self.ack_wait / 3

    async def _renew_held(self, now: float) -> None:
        """Progress acks for the held claims that are due one; not waited for (a lost one lets the claim lapse)."""
        due = [held for held in self.held.values() if (at := self._renew_at(held)) is not None and at <= now]
        for held in due:
            held.renewed = now
        if not self._link.is_connected:
            return
        nc, _ = self._link.connected()
        with contextlib.suppress(nats.errors.Error, OSError):
            for held in due:
                await nc.publish(held.claim.token, PROGRESS)
