"""The silences in a key-value bucket of their own: a document per silence, and one per silence with its counts.

Every replica reads the whole bucket now and then (a few dozen small documents), and the CLI writes it as the
service does. A silence's end and its counts are changed by compare-and-set, so that an `expire` and a count that
race keep both; a process's counts of one silence take turns, so that only other replicas' make a try again.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from notifier.clock import Clock
from notifier.store.jetstream.connection import Link, talking
from notifier.store.jetstream.layout import hashed_key
from notifier.store.jetstream.shared import change
from notifier.store.protocol import SILENCE_KEPT, MutedCount, SilenceRecord

# Key prefixes: a silence's document and its counts (a silence's id may be any string: keys take its hash).
RECORD, COUNTS = "s", "c"


class JetStreamSilences:
    def __init__(self, link: Link, clock: Clock) -> None:
        self._link = link
        self._clock = clock
        # Per silence being counted: its lock and how many counts hold or wait for it.
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}

    def _bucket(self) -> KeyValue:
        return self._link.bucket(self._link.layout.silences)

    async def put(self, silence: SilenceRecord) -> None:
        with talking("save a silence"):
            await self._bucket().put(_key(RECORD, silence.id), _encode(silence))

    async def silences(self) -> list[SilenceRecord]:
        bucket = self._bucket()
        found: list[SilenceRecord] = []
        with talking("read the silences"):
            try:
                keys = await bucket.keys()
            except NoKeysError:
                keys = []
            for key in keys:
                if not key.startswith(f"{RECORD}."):
                    continue
                try:
                    entry = await bucket.get(key)
                except KeyNotFoundError:
                    continue  # forgotten since it was listed
                if entry.value:
                    found.append(_decode(entry.value))
            forgotten = self._clock.time() - SILENCE_KEPT
            for old in [silence for silence in found if silence.ends < forgotten]:
                await bucket.purge(_key(RECORD, old.id))
                await bucket.purge(_key(COUNTS, old.id))
        return sorted((s for s in found if s.ends >= forgotten), key=lambda s: (s.starts, s.id))

    async def expire(self, silence: str, at: float) -> SilenceRecord | None:
        def end(value: bytes | None) -> tuple[SilenceRecord | None, bytes | None]:
            if not value:
                return None, None
            current = _decode(value)
            if current.ends <= at:
                return current, None
            ended = replace(current, starts=min(current.starts, at), ends=at)
            return ended, _encode(ended)

        return await change(self._bucket(), _key(RECORD, silence), "expire a silence", end)

    async def count(self, silence: str, channel: str, kind: str) -> None:
        def more(value: bytes | None) -> tuple[None, bytes]:
            counts: dict[str, dict[str, int]] = orjson.loads(value) if value else {}
            kinds = counts.setdefault(channel, {})
            kinds[kind] = kinds.get(kind, 0) + 1
            return None, orjson.dumps(counts)

        key = _key(COUNTS, silence)
        lock, waiting = self._turns.get(key, (asyncio.Lock(), 0))
        self._turns[key] = (lock, waiting + 1)
        try:
            async with lock:
                await change(self._bucket(), key, "count what a silence muted", more)
        finally:
            lock, waiting = self._turns.pop(key)
            if waiting > 1:
                self._turns[key] = (lock, waiting - 1)

    async def muted(self, silence: str) -> list[MutedCount]:
        with talking("read what a silence muted"):
            try:
                entry = await self._bucket().get(_key(COUNTS, silence))
            except KeyNotFoundError:
                return []
        counts: dict[str, dict[str, int]] = orjson.loads(entry.value or b"{}")
        return [
            MutedCount(channel, kind, number)
            for channel, kinds in sorted(counts.items())
            for kind, number in sorted(kinds.items())
        ]

    async def summarised(self, silence: str) -> None:
        def mark(value: bytes | None) -> tuple[None, bytes | None]:
            if not value:
                return None, None
            current = _decode(value)
            return None, None if current.summarised else _encode(replace(current, summarised=True))

        await change(self._bucket(), _key(RECORD, silence), "mark a silence's summary as made", mark)


def _key(kind: str, silence: str) -> str:
    return f"{kind}.{hashed_key(silence)}"


def _encode(silence: SilenceRecord) -> bytes:
    return orjson.dumps(
        {
            "id": silence.id,
            "matchers": list(silence.matchers),
            "starts": silence.starts,
            "ends": silence.ends,
            "created_by": silence.created_by,
            "comment": silence.comment,
            "drop": silence.drop,
            "summarised": silence.summarised,
        }
    )


def _decode(value: bytes) -> SilenceRecord:
    found: dict[str, Any] = orjson.loads(value)
    return SilenceRecord(
        str(found["id"]),
        tuple(str(matcher) for matcher in found["matchers"]),
        float(found["starts"]),
        float(found["ends"]),
        str(found["created_by"]),
        str(found["comment"]),
        bool(found.get("drop", False)),
        bool(found.get("summarised", False)),
    )
