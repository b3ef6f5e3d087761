"""What replicas share besides the outbox, each in a key-value bucket on the store's connection: the runs'
threads, a channel's pace (its pause and its next send), and the documents `Outgoing.decide` keeps.

A value that several replicas change is changed by compare-and-set: a write that another replica beat is made
again from what that one wrote, so that the changes go one after another, as in one transaction.
"""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import Callable
from typing import TypeVar

import orjson
from nats.js.errors import InvalidKeyError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from notifier.clock import Clock
from notifier.message import MessageRef
from notifier.store.jetstream.connection import Link, talking
from notifier.store.jetstream.layout import channel_token, hashed_key
from notifier.store.local import next_slot
from notifier.store.protocol import Outgoing, RunThread, StoreError

T = TypeVar("T")
# Compare-and-set tries before giving up (only replicas changing one value at once retry), and the most a try
# waits after the n-th lost one: a random part of min(BACKOFF_MAX, BACKOFF_FIRST * 2**n) seconds, about a
# second in all at the worst, so that a replica whose writes keep losing to another's steady ones gets its turn.
CAS_TRIES = 16
BACKOFF_FIRST = 0.002
BACKOFF_MAX = 0.1


async def change(bucket: KeyValue, key: str, what: str, step: Callable[[bytes | None], tuple[T, bytes | None]]) -> T:
    """Read a value (None when there is none) and write what `step` makes of it, by compare-and-set.

    `step` answers (what to return, the new value or None to write nothing); it is called again on what another
    replica wrote meanwhile, so it must be a pure function.
    """
    with talking(what):
        for lost in range(CAS_TRIES):
            if lost:
                # Real time, not the store's clock: how long a network race lasts, not a time the store keeps.
                await asyncio.sleep(random.uniform(0, min(BACKOFF_MAX, BACKOFF_FIRST * 2**lost)))
            try:
                entry = await bucket.get(key)
                current, revision = entry.value, entry.revision or 0
            except KeyNotFoundError:
                current, revision = None, 0
            answer, new = step(current)
            if new is None:
                return answer
            try:
                if revision:
                    await bucket.update(key, new, last=revision)
                else:
                    await bucket.create(key, new)
            except KeyWrongLastSequenceError:
                continue
            return answer
    raise StoreError(f"cannot {what}: other replicas changed it first, {CAS_TRIES} times in a row")


class Memos:
    """The documents `Outgoing.decide` reads and writes, one per memo key.

    The decisions of one process on one memo take turns, so that only other replicas' make a compare-and-set try
    again: a burst of events on one route would otherwise run out of tries.
    """

    def __init__(self, link: Link) -> None:
        self._link = link
        # Per memo key being decided on: its lock and how many decisions hold or wait for it.
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}

    async def decide(self, outgoing: Outgoing, now: float) -> Outgoing | None:
        """What `decide` stores of the notification, decided on the memo's latest document."""
        decide = outgoing.decide
        if decide is None:
            return outgoing

        def decided(document: bytes | None) -> tuple[Outgoing | None, bytes | None]:
            written, stored = decide(document, now)
            return stored, written

        bucket = self._link.bucket(self._link.layout.memos)
        # A memo key is opaque and any string: KV keys take few characters.
        key = hashed_key(outgoing.memo)
        lock, waiting = self._turns.get(key, (asyncio.Lock(), 0))
        self._turns[key] = (lock, waiting + 1)
        try:
            async with lock:
                return await change(bucket, key, f"decide on memo {outgoing.memo!r}", decided)
        finally:
            lock, waiting = self._turns.pop(key)
            if waiting > 1:
                self._turns[key] = (lock, waiting - 1)


class JetStreamRunThreads:
    """The runs' threads, one key per channel and run, forgotten `max_age` after their run message was posted
    (the bucket's own max age is the same, in the server's time)."""

    def __init__(self, link: Link, clock: Clock, max_age: float) -> None:
        self._link = link
        self._clock = clock
        self._max_age = max_age

    async def get(self, channel: str, context: str) -> RunThread | None:
        bucket = self._link.bucket(self._link.layout.threads)
        with talking("read a run's thread"):
            try:
                entry = await bucket.get(_pair_key(channel, context))
            except (KeyNotFoundError, InvalidKeyError):
                return None
        found = orjson.loads(entry.value or b"{}")
        if not found or found["started"] < self._clock.time() - self._max_age:
            return None
        ref = MessageRef(found["conversation"], found["id"])
        return RunThread(ref, base64.b64decode(found["state"]), found["started"])

    async def put(self, channel: str, context: str, thread: RunThread) -> None:
        bucket = self._link.bucket(self._link.layout.threads)
        document = {
            "conversation": thread.ref.conversation,
            "id": thread.ref.id,
            "state": base64.b64encode(thread.state).decode(),
            "started": thread.started,
        }
        with talking("save a run's thread"):
            await bucket.put(_pair_key(channel, context), orjson.dumps(document))


class JetStreamPace:
    """A channel's pause and rate shared by every replica: one number each, changed by compare-and-set."""

    def __init__(self, link: Link, clock: Clock) -> None:
        self._link = link
        self._clock = clock

    async def pause(self, channel: str, until: float = 0.0) -> float:
        def extend(current: float) -> tuple[float, float | None]:
            return (current, None) if until <= current else (until, until)

        return await self._change(channel_token(channel), f"share the pause of channel {channel}", extend)

    async def slot(self, channel: str, interval: float, burst: int) -> float:
        """The channel's next send: one shared `due` time (GCRA)."""

        def reserve(due: float) -> tuple[float, float | None]:
            return next_slot(due, self._clock.time(), interval, burst)

        return await self._change(f"{channel_token(channel)}.slot", f"share the rate of channel {channel}", reserve)

    async def _change(self, key: str, what: str, step: Callable[[float], tuple[float, float | None]]) -> float:
        def numbers(value: bytes | None) -> tuple[float, bytes | None]:
            answer, new = step(float(value or b"0"))
            return answer, None if new is None else repr(new).encode()

        return await change(self._link.bucket(self._link.layout.pauses), key, what, numbers)


def _pair_key(first: str, second: str) -> str:
    """A KV key for two names (channel and context): key characters are limited, so both go base64url-encoded."""
    return base64.urlsafe_b64encode(f"{first}\0{second}".encode()).decode().rstrip("=")
