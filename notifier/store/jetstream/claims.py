"""Claiming: one durable pull consumer per channel, whose deliveries are the claims, and what may be handed out.

A claim is one delivery, exclusive across every replica; its token is the delivery's ack subject, and the
consumer's `ack_wait` ends it on the server, so the claims of a replica that dies come back to the others by
themselves. A lease that runs out on the store's clock is given back at the next claim, so that the holder's own
clock, not only the server's, ends it.

Order within an order key (and a group's head): each keyed notification is on its key's subject in its channel,
so the oldest pending one is what the server answers for the first message on that subject. A claim hands out a
keyed one only when it is that one, and only once it is due; the others it pulled it keeps (`deliveries.py`),
checked again first at each claim. A group's head is handed out with the group's other due notifications, read
from its subject, as one claim: only the head's holder has them, so no two replicas send one group.
"""

from __future__ import annotations

import asyncio

import nats.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyNotFoundError, NotFoundError

from notifier.clock import Clock
from notifier.store.jetstream.connection import REQUEST_TIMEOUT, Link, talking
from notifier.store.jetstream.deliveries import OTHERS_RECHECK, ChannelState, Deliveries, Delivery, Follower, Held
from notifier.store.jetstream.messages import Meta, decode
from notifier.store.protocol import Claim, Member, NotificationId, Pending, StoreError

# Claims out at once per channel across all replicas (each worker claims 128 at a time).
MAX_ACK_PENDING = 2048


class Claimer:
    def __init__(self, link: Link, clock: Clock, deliveries: Deliveries) -> None:
        self._link = link
        self._clock = clock
        self._deliveries = deliveries

    async def claim(self, channel: str, limit: int, lease: float) -> list[Pending]:
        nc, js = self._link.connected()
        deliveries = self._deliveries
        state = deliveries.channel(channel)
        # One pull at a time per channel in this process; the server keeps replicas apart.
        async with state.lock:
            now = self._clock.time()
            with talking(f"claim notifications of channel {channel}"):
                await deliveries.give_back_lapsed(channel, now)
                await deliveries.tend_due(channel, state)  # what is due goes back before the pull
                await self._ensure_consumer(js, channel, state)
                # Those kept behind their head first: they are older than anything a pull brings.
                behind = sorted((kept for kept in state.kept.values() if kept.due is None), key=lambda k: k.seq)
                ready = await self._heads(js, state, behind, limit, now)
                if len(ready) < limit:
                    pulled = [
                        Delivery.of(message, now) for message in await self._pull(nc, channel, limit - len(ready))
                    ]
                    for delivery in pulled:
                        state.kept.pop(delivery.id, None)  # the server gave it again: this delivery is the one
                    ready += await self._heads(js, state, pulled, limit - len(ready), now)
                deliveries.changed()
                return [
                    await self._hand_out(js, channel, state, delivery, now, lease)
                    for delivery in sorted(ready, key=lambda d: d.seq)
                ]

    async def _heads(
        self, js: JetStreamContext, state: ChannelState, deliveries: list[Delivery], limit: int, now: float
    ) -> list[Delivery]:
        """The deliveries that may go now: due, and the oldest on their subject when keyed. The others are kept,
        each knowing its head; a keyed one no longer on its subject (finished with its group) is let go."""
        subjects = sorted({delivery.subject for delivery in deliveries if delivery.meta.keyed})
        firsts = await asyncio.gather(*(self._first_of(js, subject) for subject in subjects))
        head = dict(zip(subjects, firsts, strict=True))
        ready: list[Delivery] = []
        for delivery in deliveries:
            first = head.get(delivery.subject)
            if delivery.meta.keyed and (first is None or first[0] > delivery.seq):
                state.kept.pop(delivery.id, None)
                continue
            is_head = first is None or first[0] == delivery.seq
            if is_head and delivery.meta.due > now:
                delivery.due, delivery.head = delivery.meta.due, None
                state.kept[delivery.id] = delivery
            elif is_head and len(ready) < limit:
                state.kept.pop(delivery.id, None)
                ready.append(delivery)
            else:
                delivery.due = None
                delivery.head = delivery.id if first is None else first[1]
                state.kept[delivery.id] = delivery
        return ready

    async def _first_of(self, js: JetStreamContext, subject: str) -> tuple[int, NotificationId] | None:
        """The sequence and id of the oldest message on a subject, None if none is left."""
        try:
            first = await js.get_msg(self._link.layout.outbox, seq=1, subject=subject, next=True)
        except NotFoundError:
            return None
        meta, _ = decode(first.data)
        return first.seq or 0, meta.id

    async def _hand_out(
        self, js: JetStreamContext, channel: str, state: ChannelState, delivery: Delivery, now: float, lease: float
    ) -> Pending:
        meta, body = delivery.meta, delivery.body
        followers = await self._followers(js, delivery, now) if meta.grouped else ()
        attempts = await self._attempts(meta) if delivery.redelivered else 0
        # The server's lease runs from the delivery, also for one that was kept for a while.
        claim = Claim(delivery.id, delivery.reply, min(now + lease, delivery.leased + self._deliveries.lease))
        self._deliveries.held[claim.id] = Held(claim, channel, attempts, delivery, followers, delivery.leased)
        state.waiting.pop(claim.id, None)
        members = (Member(body, meta.note), *(Member(f.body, f.meta.note) for f in followers)) if meta.grouped else ()
        return Pending(
            claim,
            meta.event,
            channel,
            meta.route,
            meta.template,
            attempts,
            meta.created,
            body,
            meta.context,
            meta.order,
            meta.broadcast,
            meta.note,
            members,
        )

    async def _followers(self, js: JetStreamContext, head: Delivery, now: float) -> tuple[Follower, ...]:
        """The group's other due notifications, in accepted order, read from its subject at each attempt: they
        leave the stream only once the head's claim is finished for good, so nothing of a group is lost."""
        followers = []
        seq = head.seq + 1
        while True:
            try:
                message = await js.get_msg(self._link.layout.outbox, seq=seq, subject=head.subject, next=True)
            except NotFoundError:
                break
            meta, body = decode(message.data)
            seq = (message.seq or seq) + 1
            if meta.due <= now:
                followers.append(Follower(seq - 1, meta, body))
        return tuple(followers)

    async def _attempts(self, meta: Meta) -> int:
        try:
            entry = await self._link.bucket(self._link.layout.attempts).get(meta.attempts_key)
        except KeyNotFoundError:
            return 0
        return int(entry.value or b"0")

    async def next_due(self, channel: str) -> float | None:
        _, js = self._link.connected()
        deliveries = self._deliveries
        now = self._clock.time()
        state = deliveries.channel(channel)
        # Entries another replica may have taken since are dropped once a lease has passed.
        state.waiting = {id_: at for id_, at in state.waiting.items() if at > now - deliveries.lease}
        known = [h.claim.until for h in deliveries.held.values() if h.channel == channel]
        known.extend(state.waiting.values())
        known.extend(deliveries.kept_due(state, kept, now) for kept in state.kept.values())
        layout = self._link.layout
        with talking(f"read the outbox of channel {channel}"):
            try:
                info = await js.consumer_info(layout.outbox, layout.consumer(channel))
            except NotFoundError:
                # Nobody claimed on this channel yet: all it holds is due.
                stream = await js.stream_info(layout.outbox, subjects_filter=layout.channel_subjects(channel))
                return now if any((stream.state.subjects or {}).values()) else min(known, default=None)
        if info.num_pending and (info.num_ack_pending or 0) < MAX_ACK_PENDING:
            return now
        if (info.num_ack_pending or 0) > len(known):
            known.append(now + OTHERS_RECHECK)
        return min(known, default=None)

    async def _ensure_consumer(self, js: JetStreamContext, channel: str, state: ChannelState) -> None:
        if state.consumer_ready:
            return
        layout = self._link.layout
        ack_wait = self._deliveries.ack_wait
        name = layout.consumer(channel)
        subject = layout.channel_subjects(channel)
        try:
            existing = (await js.consumer_info(layout.outbox, name)).config
        except NotFoundError:
            await js.add_consumer(
                layout.outbox,
                ConsumerConfig(
                    durable_name=name,
                    description=f"keptn-notifier: channel {channel}",
                    filter_subject=subject,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=ack_wait,
                    max_deliver=-1,
                    max_ack_pending=MAX_ACK_PENDING,
                ),
            )
        else:
            if existing.filter_subject != subject or abs((existing.ack_wait or 0) - ack_wait) > 0.001:
                raise StoreError(
                    f"NATS consumer {name} already exists with other settings: ack_wait {existing.ack_wait} s and "
                    f"filter {existing.filter_subject}, but this service wants {ack_wait:g} s and {subject}. "
                    f"Delete it (nats consumer rm {layout.outbox} {name}); its notifications stay"
                )
        state.consumer_ready = True

    async def _pull(self, nc: Client, channel: str, limit: int) -> list[Msg]:
        """Up to `limit` messages that are there now: a no-wait pull request, which never waits for new ones."""
        inbox = nc.new_inbox()
        subscription = await nc.subscribe(inbox)
        messages: list[Msg] = []
        layout = self._link.layout
        try:
            request = orjson.dumps({"batch": limit, "no_wait": True})
            await nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{layout.outbox}.{layout.consumer(channel)}", request, reply=inbox
            )
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
