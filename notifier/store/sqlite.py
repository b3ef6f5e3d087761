"""The embedded backend: SQLite in the state directory, written by one thread with group commit.

All SQLite work runs on one thread with one connection. Operations queue up while a commit is in flight and
then share the next transaction: that is the group commit that keeps one disk sync from costing one event.
Only promises wait for the disk (an accepted event, a dead letter queued again); a send's outcome and a claim
do not, and the next synced commit makes them durable too (the WAL is written in order).

A claim is a lease on the row (`lease_until`, and `claims` counts claims so that only the latest holder may
finish it); a group's claim is its oldest row's, and its other rows follow that row (`lead`). Leases die with the
process that held them: a store that opens the directory alone (an exclusive lock on `notifier.sqlite3.lock`)
gives them all back, so a crash does not hold notifications for a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from notifier.clock import Clock
from notifier.message import MessageRef
from notifier.store.local import LocalPace
from notifier.store.protocol import (
    SILENCE_KEPT,
    Accepted,
    ChannelStats,
    Claim,
    Dead,
    DeadLetter,
    Health,
    Incoming,
    Member,
    MutedCount,
    NotificationId,
    Outgoing,
    Pending,
    Release,
    Retention,
    Retry,
    RunThread,
    Sent,
    SilenceRecord,
    Storage,
    StoreError,
    StoreMissing,
    Update,
)

log = logging.getLogger("notifier.store")
T = TypeVar("T")
DB_FILE = "notifier.sqlite3"
LOCK_FILE = DB_FILE + ".lock"
# Most operations one transaction takes; keeps a commit's latency bounded under a flood.
MAX_BATCH = 512
# How often accepting also forgets what the retention allows (seconds of the store's clock).
FORGET_INTERVAL = 60.0
# A document `decide` has not written for this long is forgotten (noise control's memory of a quiet route).
MEMO_MAX_AGE = 7 * 86400.0
UNWRITABLE = "the state store cannot be written"
_STORE_FILES = frozenset({DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", LOCK_FILE})

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
CREATE TABLE IF NOT EXISTS memos (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    written REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS run_threads (
    channel TEXT NOT NULL,
    context TEXT NOT NULL,
    conversation TEXT NOT NULL,
    message TEXT NOT NULL,
    state BLOB NOT NULL,
    started REAL NOT NULL,
    PRIMARY KEY (channel, context)
);
CREATE INDEX IF NOT EXISTS run_threads_started ON run_threads(started);
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    matchers BLOB NOT NULL,
    starts REAL NOT NULL,
    ends REAL NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    no_summary INTEGER NOT NULL DEFAULT 0,
    summarised INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS silence_counts (
    silence TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (silence, channel, kind)
);
"""
# Columns added since the first schema; an outbox from before gains them when it is opened. (`held`, `run` and
# `digest` keep their first names: `held` is the note, `run` the order key.)
ADDED_COLUMNS = (
    ("lease_until", "REAL NOT NULL DEFAULT 0"),
    ("claims", "INTEGER NOT NULL DEFAULT 0"),
    ("held", "TEXT NOT NULL DEFAULT ''"),
    ("digest", "TEXT NOT NULL DEFAULT ''"),
    ("run", "TEXT NOT NULL DEFAULT ''"),
    ("broadcast", "INTEGER NOT NULL DEFAULT 0"),
    ("grp", "TEXT NOT NULL DEFAULT ''"),
    ("lead", "INTEGER NOT NULL DEFAULT 0"),
)
# After the added columns: the head of each order key's queue in a channel, and each group's due rows.
INDEXES = (
    "CREATE INDEX IF NOT EXISTS notifications_run ON notifications(channel, run, id) WHERE state = 'pending'",
    "CREATE INDEX IF NOT EXISTS notifications_grp ON notifications(channel, grp, id) WHERE state = 'pending'",
    # The rows that follow a claimed group's claim: few, and only these are looked up by `lead`.
    "CREATE INDEX IF NOT EXISTS notifications_lead ON notifications(lead) WHERE lead != 0",
    "DROP INDEX IF EXISTS notifications_held",
)
# Of an order key's notifications only the oldest pending one is claimable (and counts for next_due); of a group
# only its oldest due one stands for it. The heads come from one pass over the run index (GROUP BY), the groups'
# leaders from the group index, the others from the due index, at most LIMIT.
CLAIM = """
SELECT n.id, n.event_seq, n.channel, n.route, n.template, n.attempts, n.created, e.body, e.context,
       n.run, n.broadcast, n.claims, n.held, n.grp
FROM notifications n JOIN events e ON e.seq = n.event_seq
WHERE n.id IN (
    SELECT id FROM (
        SELECT id FROM notifications INDEXED BY notifications_due
        WHERE channel = :channel AND state = 'pending' AND run = '' AND grp = '' AND next_at <= :now
          AND lease_until <= :now
        ORDER BY next_at, id LIMIT :limit)
    UNION ALL
    SELECT MIN(id) FROM notifications
    WHERE channel = :channel AND state = 'pending' AND run != '' GROUP BY run
    UNION ALL
    SELECT MIN(id) FROM notifications INDEXED BY notifications_grp
    WHERE channel = :channel AND state = 'pending' AND grp > '' AND next_at <= :now AND lease_until <= :now
    GROUP BY grp)
  AND n.next_at <= :now AND n.lease_until <= :now
ORDER BY n.next_at, n.id LIMIT :limit
"""
GROUP_MEMBERS = """
SELECT n.id, n.held, e.body FROM notifications n JOIN events e ON e.seq = n.event_seq
WHERE n.channel = ? AND n.grp = ? AND n.state = 'pending' AND n.next_at <= ? AND n.lease_until <= ?
ORDER BY n.id
"""
NEXT_DUE = """
SELECT MIN(MAX(n.next_at, n.lease_until)) FROM notifications n
WHERE n.id IN (
    SELECT id FROM notifications WHERE channel = :channel AND state = 'pending' AND run = ''
    UNION ALL
    SELECT MIN(id) FROM notifications
    WHERE channel = :channel AND state = 'pending' AND run != '' GROUP BY run)
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
INSERT_NOTIFICATION = (
    "INSERT INTO notifications"
    " (event_seq, channel, route, template, state, created, next_at, held, run, grp, broadcast)"
    " VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class _Operation:
    run: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    # Whether its commit must reach the disk before the caller hears back (see SQLiteStore._run).
    synced: bool


class SQLiteStore:
    def __init__(
        self,
        state_dir: Path,
        clock: Clock,
        retention: Retention,
        *,
        synchronous: str = "FULL",
        must_exist: bool = False,
    ) -> None:
        """`must_exist` for tools that read a service's outbox: a missing one is an error, not a new one."""
        self.path = state_dir / DB_FILE
        self._state_dir = state_dir
        self._clock = clock
        self._retention = retention
        self._synchronous = synchronous
        self._must_exist = must_exist
        self._queue: queue.SimpleQueue[_Operation | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._synced = True
        self._lock_fd: int | None = None
        self._last_forget = -float("inf")

    async def open(self) -> None:
        if self._must_exist and not self.path.exists():
            raise StoreMissing(f"no outbox in {self._state_dir}: give the service's --state-dir / NOTIFIER_STATE_DIR")
        try:
            self._state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the state directory {self._state_dir}: {exc.strerror}; "
                "set NOTIFIER_STATE_DIR / --state-dir to a writable folder"
            ) from None
        _require_writable(self._state_dir)
        self._lock_fd = _lock_alone(self._state_dir / LOCK_FILE)
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="sqlite-store", daemon=True)
        self._thread.start()
        try:
            await ready
        except StoreError:
            self._thread = None
            self._unlock()
            raise

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        # Closed from here on: `_run` refuses at once, so no operation can queue behind the sentinel and wait
        # for an answer that never comes (a worker asking while the store closes hung until the shutdown grace).
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- the writer thread ------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        self._synced = True
        conn.execute("PRAGMA busy_timeout=10000")
        conn.executescript(SCHEMA)
        present = {row[1] for row in conn.execute("PRAGMA table_info(notifications)")}
        for name, declaration in ADDED_COLUMNS:
            if name not in present:
                conn.execute(f"ALTER TABLE notifications ADD COLUMN {name} {declaration}")
        for statement in INDEXES:
            conn.execute(statement)
        _upgrade(conn, self._clock.time())
        if self._lock_fd is not None:
            # Nobody else has the outbox open: every lease left is a dead process's.
            conn.execute("UPDATE notifications SET lease_until = 0 WHERE lease_until > 0")
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
            if self._queue.empty():
                # Woken by the first operation: hand the event loop the GIL once (sleep(0) releases it), so that the
                # requests it has already read join this commit instead of waiting a whole commit for the next one.
                time.sleep(0)
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
            self._loop.call_soon_threadsafe(_fail, future, StoreError(f"state database error: {exc}"))
        else:
            self._loop.call_soon_threadsafe(_resolve, future, result)

    def _submit(self, operation: Callable[[sqlite3.Connection], T], synced: bool) -> asyncio.Future[T]:
        if self._thread is None:
            raise StoreError("the store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put(_Operation(operation, future, synced))
        return future

    async def _run(self, operation: Callable[[sqlite3.Connection], T], synced: bool = True) -> T:
        """`synced=False` for a change that may be lost with the machine (not the process): its commit does not
        wait for the disk, and the next synced commit makes it durable too (the WAL is written in order)."""
        return await self._submit(operation, synced)

    # -- operations --------------------------------------------------------------------------------------

    async def accept(self, items: Sequence[Incoming]) -> list[Accepted]:
        now = self._clock.time()
        if now - self._last_forget >= FORGET_INTERVAL:
            # Queued ahead of this accept, so keys it forgets are new again for it; nobody waits for it.
            self._last_forget = now
            retention = self._retention
            forgetting = self._submit(lambda conn: _forget(conn, now, retention), False)
            forgetting.add_done_callback(_log_failed_forget)

        def run(conn: sqlite3.Connection) -> list[Accepted]:
            return [_accept_one(conn, item, now) for item in items]

        return await self._run(run)

    async def claim(self, channel: str, limit: int, lease: float) -> list[Pending]:
        now = self._clock.time()
        until = now + lease

        def run(conn: sqlite3.Connection) -> list[Pending]:
            rows = conn.execute(CLAIM, {"channel": channel, "now": now, "limit": limit}).fetchall()
            # A group's members are read (and leased) before its claimed row's lease hides that row from the read.
            claimed = [_pending(conn, row, now, until) for row in rows]
            conn.executemany(
                "UPDATE notifications SET lease_until = ?, claims = claims + 1 WHERE id = ?",
                [(until, row[0]) for row in rows],
            )
            return claimed

        return await self._run(run, synced=False)

    async def next_due(self, channel: str) -> float | None:
        def run(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(NEXT_DUE, {"channel": channel}).fetchone()
            return None if row is None else row[0]

        return await self._run(run, synced=False)

    async def finish(self, updates: Sequence[Update]) -> None:
        # Every outcome ends the claim, and only the claim's latest holder may record one; a group's other rows
        # follow its oldest (`lead`), and only while that one's claim is the one finished.
        def run(conn: sqlite3.Connection) -> None:
            for update in updates:
                change, values = _change_of(update)
                held = (update.claim.id, update.claim.token)
                cursor = conn.execute(f"{change} WHERE id = ? AND claims = ? AND state = 'pending'", (*values, *held))
                if cursor.rowcount:
                    followers = f"{change} WHERE lead = ? AND lead != 0 AND state = 'pending'"
                    conn.execute(followers, (*values, update.claim.id))

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
            return [DeadLetter(str(row_id), *fields) for row_id, *fields in rows]

        return await self._run(run, synced=False)

    async def retry_dead(self, ids: Collection[NotificationId] | None) -> int:
        now = self._clock.time()

        def run(conn: sqlite3.Connection) -> int:
            reset = (
                "UPDATE notifications SET state = 'pending', next_at = ?, attempts = 0, created = ?, done_at = NULL,"
                " lease_until = 0, lead = 0"
            )
            if ids is None:
                return conn.execute(f"{reset} WHERE state = 'dead'", (now, now)).rowcount
            # An id that is no number matches no row (the column's integer affinity converts only numbers).
            return sum(
                conn.execute(f"{reset} WHERE state = 'dead' AND id = ?", (now, now, one)).rowcount for one in set(ids)
            )

        return await self._run(run)

    async def purge_dead(self, older_than: float) -> int:
        cutoff = self._clock.time() - older_than

        def run(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM notifications WHERE state = 'dead' AND done_at < ?", (cutoff,)).rowcount

        return await self._run(run)

    async def forget_old(self, now: float, window: float, max_entries: int) -> int:
        """Drop events past the dedup window, or beyond the size bound, once nothing waits on them.

        Accepting calls it on its own every FORGET_INTERVAL with the store's retention; public for tests.
        """
        return await self._run(lambda conn: _forget(conn, now, Retention(window, max_entries)), synced=False)

    async def health(self) -> Health:
        """A tiny write: readiness says not ready while the disk refuses writes."""
        now = self._clock.time()

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("CREATE TABLE IF NOT EXISTS probe (at REAL)")
            conn.execute("DELETE FROM probe")
            conn.execute("INSERT INTO probe VALUES (?)", (now,))

        try:
            await self._run(run)
        except StoreError:
            return Health(UNWRITABLE)
        return Health()


class SQLiteRunThreads:
    """The runs' threads in the outbox's database, forgotten `max_age` after their run message was posted."""

    def __init__(self, store: SQLiteStore, clock: Clock, max_age: float) -> None:
        self._store = store
        self._clock = clock
        self._max_age = max_age
        self._last_forget = -float("inf")

    async def get(self, channel: str, context: str) -> RunThread | None:
        since = self._clock.time() - self._max_age

        def run(conn: sqlite3.Connection) -> RunThread | None:
            row = conn.execute(
                "SELECT conversation, message, state, started FROM run_threads"
                " WHERE channel = ? AND context = ? AND started >= ?",
                (channel, context, since),
            ).fetchone()
            return None if row is None else RunThread(MessageRef(row[0], row[1]), bytes(row[2]), row[3])

        return await self._store._run(run, synced=False)

    async def put(self, channel: str, context: str, thread: RunThread) -> None:
        row = (channel, context, thread.ref.conversation, thread.ref.id, thread.state, thread.started)
        now = self._clock.time()
        forget = now - self._last_forget >= FORGET_INTERVAL
        if forget:
            self._last_forget = now
        expired = now - self._max_age

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO run_threads (channel, context, conversation, message, state, started)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
            if forget:
                conn.execute("DELETE FROM run_threads WHERE started < ?", (expired,))

        # Like a send's outcome: it survives the process (kill -9), and the next synced commit the machine.
        await self._store._run(run, synced=False)


class SQLiteSilences:
    """The silences and their counts in the outbox's database: the CLI writes the same file the service reads."""

    def __init__(self, store: SQLiteStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def put(self, silence: SilenceRecord) -> None:
        row = (
            silence.id,
            orjson.dumps(list(silence.matchers)),
            silence.starts,
            silence.ends,
            silence.created_by,
            silence.comment,
            silence.drop,
            silence.summarised,
        )

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO silences"
                " (id, matchers, starts, ends, created_by, comment, no_summary, summarised)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        await self._store._run(run)

    async def silences(self) -> list[SilenceRecord]:
        forgotten = self._clock.time() - SILENCE_KEPT

        def run(conn: sqlite3.Connection) -> list[SilenceRecord]:
            old = [row[0] for row in conn.execute("SELECT id FROM silences WHERE ends < ?", (forgotten,))]
            conn.executemany("DELETE FROM silence_counts WHERE silence = ?", [(one,) for one in old])
            conn.executemany("DELETE FROM silences WHERE id = ?", [(one,) for one in old])
            rows = conn.execute(f"{SELECT_SILENCES} ORDER BY starts, id").fetchall()
            return [_silence(row) for row in rows]

        return await self._store._run(run, synced=False)

    async def expire(self, silence: str, at: float) -> SilenceRecord | None:
        def run(conn: sqlite3.Connection) -> SilenceRecord | None:
            conn.execute(
                "UPDATE silences SET ends = ?, starts = MIN(starts, ?) WHERE id = ? AND ends > ?",
                (at, at, silence, at),
            )
            row = conn.execute(f"{SELECT_SILENCES} WHERE id = ?", (silence,)).fetchone()
            return None if row is None else _silence(row)

        return await self._store._run(run)

    async def count(self, silence: str, channel: str, kind: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO silence_counts (silence, channel, kind, count) VALUES (?, ?, ?, 1)"
                " ON CONFLICT (silence, channel, kind) DO UPDATE SET count = count + 1",
                (silence, channel, kind),
            )

        await self._store._run(run, synced=False)

    async def muted(self, silence: str) -> list[MutedCount]:
        def run(conn: sqlite3.Connection) -> list[MutedCount]:
            rows = conn.execute(
                "SELECT channel, kind, count FROM silence_counts WHERE silence = ? ORDER BY channel, kind", (silence,)
            ).fetchall()
            return [MutedCount(*row) for row in rows]

        return await self._store._run(run, synced=False)

    async def summarised(self, silence: str) -> None:
        await self._store._run(lambda conn: conn.execute("UPDATE silences SET summarised = 1 WHERE id = ?", (silence,)))


SELECT_SILENCES = "SELECT id, matchers, starts, ends, created_by, comment, no_summary, summarised FROM silences"


def _silence(row: Any) -> SilenceRecord:
    number, matchers, starts, ends, created_by, comment, drop, summarised = row
    return SilenceRecord(
        number, tuple(orjson.loads(matchers)), starts, ends, created_by, comment, bool(drop), bool(summarised)
    )


def sqlite_storage(
    state_dir: Path, clock: Clock, retention: Retention, thread_max_age: float, *, must_exist: bool = False
) -> Storage:
    """The embedded backend: one database for the outbox, the runs' threads and the silences; the pace in the
    process."""
    store = SQLiteStore(state_dir, clock, retention, must_exist=must_exist)
    return Storage(
        store, SQLiteRunThreads(store, clock, thread_max_age), LocalPace(clock), SQLiteSilences(store, clock)
    )


def _accept_one(conn: sqlite3.Connection, item: Incoming, now: float) -> Accepted:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO events (key, received, type, context, body) VALUES (?, ?, ?, ?, ?)",
        (item.key, now, item.type, item.context, item.body),
    )
    if cursor.rowcount == 0:
        return Accepted(False)
    seq = cursor.lastrowid
    stored = tuple(_decided(conn, outgoing, now) for outgoing in item.notifications)
    conn.executemany(
        INSERT_NOTIFICATION,
        [
            (seq, o.channel, o.route, o.template, now, o.due or now, o.note, o.order, o.group, o.broadcast)
            for o in stored
            if o is not None
        ],
    )
    return Accepted(True, stored)


def _decided(conn: sqlite3.Connection, outgoing: Outgoing, now: float) -> Outgoing | None:
    """What `decide` makes of the notification, with the document it keeps, in this transaction."""
    if outgoing.decide is None:
        return outgoing
    row = conn.execute("SELECT value FROM memos WHERE key = ?", (outgoing.memo,)).fetchone()
    document, stored = outgoing.decide(None if row is None else bytes(row[0]), now)
    if document is not None:
        conn.execute(
            "INSERT OR REPLACE INTO memos (key, value, written) VALUES (?, ?, ?)", (outgoing.memo, document, now)
        )
    return stored


def _pending(conn: sqlite3.Connection, row: Any, now: float, until: float) -> Pending:
    number, event, channel, route, template, attempts, created, body, context, order, broadcast, claims, note, grp = row
    members: tuple[Member, ...] = ()
    if grp:
        rows = conn.execute(GROUP_MEMBERS, (channel, grp, now, now)).fetchall()
        others = [(other,) for other, _, _ in rows if other != number]
        conn.executemany(
            "UPDATE notifications SET lease_until = ?, lead = ? WHERE id = ?", [(until, number, *o) for o in others]
        )
        members = tuple(Member(_blob(member_body), member_note) for _, member_note, member_body in rows)
    return Pending(
        Claim(str(number), str(claims + 1), until),
        str(event),
        channel,
        route,
        template,
        attempts,
        created,
        _blob(body),
        context,
        order,
        bool(broadcast),
        note,
        members,
    )


def _blob(value: bytes | str) -> bytes:
    """A body as stored: a BLOB, or TEXT in a row an earlier version (or a hand) wrote."""
    return value if isinstance(value, bytes) else value.encode()


def _change_of(update: Update) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE (without its WHERE) that records an outcome, and its values."""
    if isinstance(update, Sent):
        return (
            "UPDATE notifications SET state = 'sent', done_at = ?, attempts = attempts + 1, reason = ?,"
            " lease_until = 0",
            (update.at, update.detail),
        )
    if isinstance(update, Retry):
        return (
            "UPDATE notifications SET next_at = ?, attempts = attempts + 1, reason = ?, lease_until = 0",
            (update.next_at, update.reason),
        )
    if isinstance(update, Dead):
        return (
            "UPDATE notifications SET state = 'dead', done_at = ?, attempts = attempts + 1, reason = ?,"
            " lease_until = 0",
            (update.at, update.reason),
        )
    assert isinstance(update, Release)
    return "UPDATE notifications SET lease_until = 0", ()


def _forget(conn: sqlite3.Connection, now: float, retention: Retention) -> int:
    conn.execute("DELETE FROM memos WHERE written < ?", (now - MEMO_MAX_AGE,))
    total = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    over = max(0, total - retention.max_entries)
    doomed = [row[0] for row in conn.execute(FORGETTABLE_EVENTS, (now - retention.window, over))]
    conn.executemany("DELETE FROM notifications WHERE event_seq = ?", [(seq,) for seq in doomed])
    conn.executemany("DELETE FROM events WHERE seq = ?", [(seq,) for seq in doomed])
    return len(doomed)


def _upgrade(conn: sqlite3.Connection, now: float) -> None:
    """An outbox from before groups: its held notifications join their group (route and time, as they were
    folded then), a digest already folded but not sent is unfolded into its events again, and noise control's
    memory in the old tables is dropped (a repeat may be sent once more, a digest window starts anew)."""
    conn.execute(
        "UPDATE notifications SET grp = route || '@' || next_at WHERE state = 'pending' AND held != '' AND grp = ''"
    )
    folded = conn.execute(
        "SELECT n.id, n.channel, n.route, n.template, n.digest, e.body FROM notifications n"
        " JOIN events e ON e.seq = n.event_seq WHERE n.state = 'pending' AND n.digest != ''"
    ).fetchall()
    for number, channel, route, template, words, body in folded:
        note = words.split(",")[0]
        try:
            held = orjson.loads(body)
        except orjson.JSONDecodeError:
            continue  # left as it is: it renders as the fallback and can be retried or purged
        for index, event in enumerate(held if isinstance(held, list) else []):
            seq = conn.execute(
                "INSERT INTO events (key, received, type, context, body) VALUES (?, ?, ?, '', ?)",
                (f"\x1fheld\x1f{number}\x1f{index}", now, str(event.get("type", "")), orjson.dumps(event)),
            ).lastrowid
            conn.execute(
                INSERT_NOTIFICATION, (seq, channel, route, template, now, now, note, "", f"{route}@{number}", False)
            )
        conn.execute("DELETE FROM notifications WHERE id = ?", (number,))
    conn.execute("DROP TABLE IF EXISTS noise_windows")
    conn.execute("DROP TABLE IF EXISTS noise_repeats")


def _require_writable(state_dir: Path) -> None:
    """SQLite creates files beside the database (its WAL, the lock) and writes those there: try both, up front.

    SQLite's own words for a volume of another owner ("unable to open database file", "attempt to write a readonly
    database") do not say which user needs the access, and that user is what the volume's owner must match.
    """
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=state_dir)
        os.close(fd)
        os.unlink(probe)
        for name in (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", LOCK_FILE):
            if (state_dir / name).exists():
                os.close(os.open(state_dir / name, os.O_RDWR))
    except OSError as exc:
        name = Path(exc.filename).name if exc.filename else ""
        what = str(state_dir / name) if name in _STORE_FILES else f"the state directory {state_dir}"
        raise StoreError(
            f"cannot write {what} ({exc.strerror}) as uid {os.geteuid()}, gid {os.getegid()}, "
            "the user this process runs as: give that user write access to the directory and its files (in "
            "Kubernetes: the pod's securityContext.fsGroup), or set NOTIFIER_STATE_DIR / --state-dir to a folder it "
            "can write"
        ) from None


def _lock_alone(path: Path) -> int | None:
    """The open lock file when no other store has this outbox open, else None (and nothing is held)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None  # SQLite reports an unusable directory in its own words
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _log_failed_forget(future: asyncio.Future[int]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("could not forget old events: %s", exc)


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _resolve_all(outcomes: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, value in outcomes:
        _resolve(future, value)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
