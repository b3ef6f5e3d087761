"""Finishing claims: Sent acks the delivery, Retry keeps it until its time (`deliveries.py`), Release naks it at
once, Dead copies it to the dead letters and then acks it. A store finishes only the claims it handed out.

A group's claim is its head's: Sent and Dead finish its followers too (Dead makes each its own dead letter, with
its group, so that queued again they are a group again), and delete them from the outbox (another replica that
keeps one lets it go at its next claim); Retry and Release leave them where they are, for the head's next claim.
The attempts are counted in a bucket, since the server's delivery count also counts what is no attempt (a
Release, a lapsed lease).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from notifier.clock import Clock
from notifier.store.jetstream.connection import REQUEST_TIMEOUT, Link, talking
from notifier.store.jetstream.dead import DeadLetters
from notifier.store.jetstream.deliveries import Deliveries, Held
from notifier.store.jetstream.messages import ACK, NAK, Death
from notifier.store.protocol import Dead, Release, Retry, Sent, Update


class Finisher:
    def __init__(self, link: Link, clock: Clock, deliveries: Deliveries, dead: DeadLetters) -> None:
        self._link = link
        self._clock = clock
        self._deliveries = deliveries
        self._dead = dead

    async def finish(self, updates: Sequence[Update]) -> None:
        nc, js = self._link.connected()
        now = self._clock.time()
        held_now = self._deliveries.held
        for update in updates:
            held = held_now.get(update.claim.id)
            if held is None or held.claim.token != update.claim.token:
                continue  # finished already, or claimed again since
            del held_now[held.claim.id]
            with talking(f"record the outcome of notification {held.claim.id}"):
                await self._finish_one(nc, js, held, update, now)

    async def _finish_one(self, nc: Client, js: JetStreamContext, held: Held, update: Update, now: float) -> None:
        token = held.claim.token
        state = self._deliveries.channel(held.channel)
        if isinstance(update, Sent):
            await self._drop_followers(js, held)
            await nc.request(token, ACK, timeout=REQUEST_TIMEOUT)
        elif isinstance(update, Retry):
            attempts = str(held.attempts + 1).encode()
            await self._link.bucket(self._link.layout.attempts).put(held.delivery.meta.attempts_key, attempts)
            # Kept until its time on the store's clock (still the oldest of its key); the timer gives it back then.
            held.delivery.due = update.next_at
            state.kept[held.claim.id] = held.delivery
            self._deliveries.changed()
        elif isinstance(update, Dead):
            group = [(held.delivery.meta, held.delivery.body), *((f.meta, f.body) for f in held.followers)]
            await self._dead.bury(group, Death(update.reason, held.attempts + 1, update.at))
            await self._drop_followers(js, held)
            await nc.request(token, ACK, timeout=REQUEST_TIMEOUT)
        else:
            assert isinstance(update, Release)
            await nc.request(token, NAK, timeout=REQUEST_TIMEOUT)
            state.waiting[held.claim.id] = now

    async def _drop_followers(self, js: JetStreamContext, held: Held) -> None:
        kept = self._deliveries.channel(held.channel).kept
        for follower in held.followers:
            kept.pop(follower.meta.id, None)
            with contextlib.suppress(NotFoundError):
                await js.delete_msg(self._link.layout.outbox, follower.seq)
