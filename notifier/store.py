"""Durable state: the outbox of notifications, the dedup memory and the dead letters.

`Store` is the seam for a shared store later (several replicas on NATS); `SQLiteStore` is the embedded one.
All SQLite work runs on one thread with one connection. Operations queue up while a commit is in flight and
then share the next transaction: that is the group commit that keeps one disk sync from costing one event.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from notifier.events import KeptnEvent
from notifier.routing import Target

T = TypeVar("T")
DB_FILE = "notifier.sqlite3"
# Most operations one transaction takes; keeps a commit's latency bounded under a flood.
MAX_BATCH = 512

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    received REAL NOT NULL,
    type TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT '',
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_received ON events(received);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    event_seq INTEGER NOT NULL REFERENCES events(seq),
    channel TEXT NOT NULL,
    route TEXT NOT NULL,
    template TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    next_at REAL NOT NULL,
    done_at REAL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications(channel, next_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notifications_event ON notifications(event_seq);
CREATE INDEX IF NOT EXISTS notifications_dead ON notifications(state, done_at) WHERE state = 'dead';
"""
# Events whose notifications are all sent, and that are past the dedup window or beyond the size bound.
FORGETTABLE_EVENTS = """
SELECT seq FROM events
WHERE NOT EXISTS (SELECT 1 FROM notifications n WHERE n.event_seq = events.seq AND n.state != 'sent')
  AND (received < ? OR seq IN (
      SELECT seq FROM events
      WHERE NOT EXISTS (SELECT 1 FROM notifications n WHERE n.event_seq = events.seq AND n.state != 'sent')
      ORDER BY seq LIMIT ?))
LIMIT 5000
"""


@dataclass(frozen=True, slots=True)
class Pending:
    """A notification waiting to be sent, with the event it is made from."""

    id: int
    event_seq: int
    channel: str
    route: str
    template: str | None
    attempts: int
    created: float
    body: bytes
    # The event's shkeptncontext, so that log lines about this notification can name the Keptn run.
    keptn_context: str


@dataclass(frozen=True, slots=True)
class Sent:
    id: int
    at: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Retry:
    id: int
    next_at: float
    reason: str


@dataclass(frozen=True, slots=True)
class Dead:
    id: int
    at: float
    reason: str


Update = Sent | Retry | Dead


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    channel: str
    route: str
    event_type: str
    body: bytes
    reason: str
    attempts: int
    created: float
    died: float


@dataclass(frozen=True, slots=True)
class ChannelStats:
    pending: int
    oldest_created: float | None


class Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def accept(self, items: Sequence[tuple[KeptnEvent, bytes, Sequence[Target]]]) -> list[bool]:
        """Store each event with its notifications; False for an event already seen (a duplicate)."""
        ...

    async def due(self, channel: str, now: float, limit: int, exclude: Collection[int]) -> list[Pending]: ...
    async def next_due(self, channel: str) -> float | None: ...
    async def finish(self, updates: Sequence[Update]) -> None: ...
    async def stats(self) -> dict[str, ChannelStats]: ...
    async def dead_letters(self) -> list[DeadLetter]: ...
    async def retry_dead(self, ids: Collection[int] | None, now: float) -> int: ...
    async def purge_dead(self, older_than: float) -> int: ...
    async def forget_old(self, now: float, window: float, max_entries: int) -> int: ...
    async def probe(self) -> bool: ...


class StoreError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Operation:
    run: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    # Whether its commit must reach the disk before the caller hears back (see SQLiteStore._run).
    synced: bool


class SQLiteStore:
    def __init__(self, state_dir: Path, synchronous: str = "FULL") -> None:
        self.path = state_dir / DB_FILE
        self._state_dir = state_dir
        self._synchronous = synchronous
        self._queue: queue.SimpleQueue[_Operation | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.writable = True
        self._synced = True

    async def open(self) -> None:
        try:
            self._state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the state directory {self._state_dir}: {exc.strerror}; "
                "set NOTIFIER_STATE_DIR / --state-dir to a writable folder"
            ) from None
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="sqlite-store", daemon=True)
        self._thread.start()
        await ready

    async def close(self) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._thread = None

    # -- the writer thread ------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        self._synced = True
        conn.execute("PRAGMA busy_timeout=10000")
        conn.executescript(SCHEMA)
        return conn

    def _serve(self, ready: asyncio.Future[None]) -> None:
        assert self._loop is not None
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            message = f"cannot open the state database {self.path}: {exc}; check NOTIFIER_STATE_DIR"
            self._loop.call_soon_threadsafe(_fail, ready, StoreError(message))
            return
        self._loop.call_soon_threadsafe(_resolve, ready, None)
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._run_batch(conn, batch)
        conn.close()

    def _sync_commits(self, conn: sqlite3.Connection, synced: bool) -> None:
        """Whether the next commit waits for the disk: only when it holds something that was promised."""
        if synced != self._synced:
            conn.execute(f"PRAGMA synchronous={self._synchronous if synced else 'NORMAL'}")
            self._synced = synced

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Operation]) -> None:
        assert self._loop is not None
        try:
            self._sync_commits(conn, any(operation.synced for operation in batch))
            conn.execute("BEGIN IMMEDIATE")
            results = [operation.run(conn) for operation in batch]
            conn.execute("COMMIT")
        except Exception:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            # Run each on its own so that only the operation at fault reports the error.
            for operation in batch:
                self._run_one(conn, operation)
            return
        self.writable = True
        # One wake-up of the event loop for the whole batch, not one per operation.
        self._loop.call_soon_threadsafe(
            _resolve_all, [(operation.future, result) for operation, result in zip(batch, results, strict=True)]
        )

    def _run_one(self, conn: sqlite3.Connection, operation: _Operation) -> None:
        assert self._loop is not None
        future = operation.future
        try:
            self._sync_commits(conn, operation.synced)
            conn.execute("BEGIN IMMEDIATE")
            result = operation.run(conn)
            conn.execute("COMMIT")
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                self.writable = False
            self._loop.call_soon_threadsafe(_fail, future, StoreError(f"state database error: {exc}"))
        else:
            self.writable = True
            self._loop.call_soon_threadsafe(_resolve, future, result)

    async def _run(self, operation: Callable[[sqlite3.Connection], T], synced: bool = True) -> T:
        """`synced=False` for a change that may be lost with the machine (not the process): its commit does not
        wait for the disk, and the next synced commit makes it durable too (the WAL is written in order)."""
        if self._thread is None:
            raise StoreError("the store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put(_Operation(operation, future, synced))
        return await future

    # -- operations --------------------------------------------------------------------------------------

    async def accept(self, items: Sequence[tuple[KeptnEvent, bytes, Sequence[Target]]]) -> list[bool]:
        now = time.time()

        def run(conn: sqlite3.Connection) -> list[bool]:
            fresh = []
            for event, body, targets in items:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO events (key, received, type, context, body) VALUES (?, ?, ?, ?, ?)",
                    (event.dedup_key, now, event.type, event.keptn_context, body),
                )
                if cursor.rowcount == 0:
                    fresh.append(False)
                    continue
                seq = cursor.lastrowid
                conn.executemany(
                    "INSERT INTO notifications (event_seq, channel, route, template, state, created, next_at)"
                    " VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                    [(seq, t.channel, t.route, t.template, now, now) for t in targets],
                )
                fresh.append(True)
            return fresh

        return await self._run(run)

    async def due(self, channel: str, now: float, limit: int, exclude: Collection[int]) -> list[Pending]:
        skip = frozenset(exclude)

        def run(conn: sqlite3.Connection) -> list[Pending]:
            rows = conn.execute(
                "SELECT n.id, n.event_seq, n.channel, n.route, n.template, n.attempts, n.created, e.body, e.context"
                " FROM notifications n JOIN events e ON e.seq = n.event_seq"
                " WHERE n.channel = ? AND n.state = 'pending' AND n.next_at <= ?"
                " ORDER BY n.next_at, n.id LIMIT ?",
                (channel, now, limit + len(skip)),
            ).fetchall()
            return [Pending(*row) for row in rows if row[0] not in skip][:limit]

        return await self._run(run, synced=False)

    async def next_due(self, channel: str) -> float | None:
        def run(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "SELECT MIN(next_at) FROM notifications WHERE channel = ? AND state = 'pending'", (channel,)
            ).fetchone()
            return None if row is None else row[0]

        return await self._run(run, synced=False)

    async def finish(self, updates: Sequence[Update]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            for update in updates:
                if isinstance(update, Sent):
                    conn.execute(
                        "UPDATE notifications SET state = 'sent', done_at = ?, attempts = attempts + 1, reason = ?"
                        " WHERE id = ?",
                        (update.at, update.detail, update.id),
                    )
                elif isinstance(update, Retry):
                    conn.execute(
                        "UPDATE notifications SET next_at = ?, attempts = attempts + 1, reason = ? WHERE id = ?",
                        (update.next_at, update.reason, update.id),
                    )
                else:
                    conn.execute(
                        "UPDATE notifications SET state = 'dead', done_at = ?, attempts = attempts + 1, reason = ?"
                        " WHERE id = ?",
                        (update.at, update.reason, update.id),
                    )

        await self._run(run, synced=False)

    async def stats(self) -> dict[str, ChannelStats]:
        def run(conn: sqlite3.Connection) -> dict[str, ChannelStats]:
            rows = conn.execute(
                "SELECT channel, COUNT(*), MIN(created) FROM notifications WHERE state = 'pending' GROUP BY channel"
            ).fetchall()
            return {channel: ChannelStats(count, oldest) for channel, count, oldest in rows}

        return await self._run(run, synced=False)

    async def dead_letters(self) -> list[DeadLetter]:
        def run(conn: sqlite3.Connection) -> list[DeadLetter]:
            rows = conn.execute(
                "SELECT n.id, n.channel, n.route, e.type, e.body, n.reason, n.attempts, n.created, n.done_at"
                " FROM notifications n JOIN events e ON e.seq = n.event_seq"
                " WHERE n.state = 'dead' ORDER BY n.done_at, n.id"
            ).fetchall()
            return [DeadLetter(*row) for row in rows]

        return await self._run(run, synced=False)

    async def retry_dead(self, ids: Collection[int] | None, now: float) -> int:
        def run(conn: sqlite3.Connection) -> int:
            reset = "UPDATE notifications SET state = 'pending', next_at = ?, attempts = 0, created = ?, done_at = NULL"
            if ids is None:
                return conn.execute(f"{reset} WHERE state = 'dead'", (now, now)).rowcount
            return sum(
                conn.execute(f"{reset} WHERE state = 'dead' AND id = ?", (now, now, one)).rowcount for one in ids
            )

        return await self._run(run)

    async def purge_dead(self, older_than: float) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM notifications WHERE state = 'dead' AND done_at < ?", (older_than,)
            ).rowcount

        return await self._run(run)

    async def forget_old(self, now: float, window: float, max_entries: int) -> int:
        """Drop events past the dedup window, or beyond the size bound, once nothing waits on them."""

        def run(conn: sqlite3.Connection) -> int:
            total = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            over = max(0, total - max_entries)
            doomed = [row[0] for row in conn.execute(FORGETTABLE_EVENTS, (now - window, over))]
            conn.executemany("DELETE FROM notifications WHERE event_seq = ?", [(seq,) for seq in doomed])
            conn.executemany("DELETE FROM events WHERE seq = ?", [(seq,) for seq in doomed])
            return len(doomed)

        return await self._run(run, synced=False)

    async def probe(self) -> bool:
        """A tiny write: readiness says not ready while the disk refuses writes."""

        def run(conn: sqlite3.Connection) -> bool:
            conn.execute("CREATE TABLE IF NOT EXISTS probe (at REAL)")
            conn.execute("DELETE FROM probe")
            conn.execute("INSERT INTO probe VALUES (?)", (time.time(),))
            return True

        try:
            return await self._run(run)
        except StoreError:
            self.writable = False
            return False


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _resolve_all(outcomes: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, value in outcomes:
        _resolve(future, value)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
