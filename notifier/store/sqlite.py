"""The embedded store: SQLite in the state directory, written by one thread with group commit.

All SQLite work runs on one thread with one connection. Operations queue up while a commit is in flight and
then share the next transaction: that is the group commit that keeps one disk sync from costing one event.
Only promises wait for the disk (an accepted event, a dead letter queued again); a send's outcome and a claim
do not, and the next synced commit makes them durable too (the WAL is written in order).

A claim is a lease on the row (`lease_until`, and `claims` counts claims so that only the latest holder may
finish it). Leases die with the process that held them: a store that opens the directory alone (an exclusive
lock on `notifier.sqlite3.lock`) gives them all back, so a crash does not hold notifications for a lease.
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

from notifier.clock import Clock
from notifier.message_ref import MessageRef
from notifier.store.pauses import LocalPauses
from notifier.store.protocol import (
    DIGEST_TYPE,
    ChannelStats,
    Claim,
    Dead,
    DeadLetter,
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
CREATE TABLE IF NOT EXISTS noise_windows (
    route TEXT NOT NULL,
    channel TEXT NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (route, channel)
);
CREATE TABLE IF NOT EXISTS noise_repeats (
    route TEXT NOT NULL,
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    sent REAL NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (route, channel, key)
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
"""
# Columns added since the first schema; an outbox from before gains them when it is opened.
ADDED_COLUMNS = (
    ("lease_until", "REAL NOT NULL DEFAULT 0"),
    ("claims", "INTEGER NOT NULL DEFAULT 0"),
    ("ref_conversation", "TEXT"),
    ("ref_id", "TEXT"),
    # Noise control: why a notification is held ('' when it is not), and the hold words of a digest.
    ("held", "TEXT NOT NULL DEFAULT ''"),
    ("digest", "TEXT NOT NULL DEFAULT ''"),
    # The run (context) of a threaded notification, '' for one that is not: see `claim`.
    ("run", "TEXT NOT NULL DEFAULT ''"),
    ("broadcast", "INTEGER NOT NULL DEFAULT 0"),
)
# After the added columns: the head of each run's queue in a channel.
RUN_INDEX = "CREATE INDEX IF NOT EXISTS notifications_run ON notifications(channel, run, id) WHERE state = 'pending'"
# Of a run's notifications only the oldest pending one is claimable (and counts for next_due): order within a run.
# The heads come from one pass over the run index (GROUP BY), the others from the due index, at most LIMIT.
CLAIM = """
SELECT n.id, n.event_seq, n.channel, n.route, n.template, n.attempts, n.created, e.body, e.context,
       n.run != '', n.broadcast, n.claims, n.digest
FROM notifications n JOIN events e ON e.seq = n.event_seq
WHERE n.id IN (
    SELECT id FROM (
        SELECT id FROM notifications INDEXED BY notifications_due
        WHERE channel = :channel AND state = 'pending' AND run = '' AND held = '' AND next_at <= :now
          AND lease_until <= :now
        ORDER BY next_at, id LIMIT :limit)
    UNION ALL
    SELECT MIN(id) FROM notifications
    WHERE channel = :channel AND state = 'pending' AND run != '' GROUP BY run)
  AND n.next_at <= :now AND n.lease_until <= :now
ORDER BY n.next_at, n.id LIMIT :limit
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
        # In the process, not the database: nothing else sends for this outbox (see LocalPauses).
        self._pauses = LocalPauses()

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
        conn.execute(
            "CREATE INDEX IF NOT EXISTS notifications_held ON notifications(channel, next_at) WHERE held != ''"
        )
        conn.execute(RUN_INDEX)
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

    async def accept(self, items: Sequence[Incoming]) -> list[bool]:
        now = self._clock.time()
        if now - self._last_forget >= FORGET_INTERVAL:
            # Queued ahead of this accept, so keys it forgets are new again for it; nobody waits for it.
            self._last_forget = now
            retention = self._retention
            forgetting = self._submit(lambda conn: _forget(conn, now, retention), False)
            forgetting.add_done_callback(_log_failed_forget)

        def run(conn: sqlite3.Connection) -> list[bool]:
            fresh = []
            for item in items:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO events (key, received, type, context, body) VALUES (?, ?, ?, ?, ?)",
                    (item.key, now, item.type, item.context, item.body),
                )
                if cursor.rowcount == 0:
                    fresh.append(False)
                    continue
                seq = cursor.lastrowid
                rows = []
                for d in item.destinations:
                    verdict = None if d.noise is None else _decide_noise(conn, d.route, d.channel, d.noise, now)
                    # A held notification is never threaded: it goes out in a digest, and it must not hold up its run.
                    run = item.context if d.threaded else ""
                    if verdict is None:
                        rows.append((seq, d.channel, d.route, d.template, now, now, "", run, d.broadcast))
                    elif verdict.keep and verdict.held:
                        rows.append(
                            (
                                seq,
                                d.channel,
                                d.route,
                                d.template,
                                now,
                                verdict.held_until or now,
                                verdict.held,
                                "",
                                False,
                            )
                        )
                    elif verdict.keep:
                        rows.append((seq, d.channel, d.route, d.template, now, now, "", run, d.broadcast))
                conn.executemany(
                    "INSERT INTO notifications"
                    " (event_seq, channel, route, template, state, created, next_at, held, run, broadcast)"
                    " VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
                    rows,
                )
                fresh.append(True)
            return fresh

        return await self._run(run)

    async def claim(self, channel: str, limit: int, lease: float) -> list[Pending]:
        now = self._clock.time()
        until = now + lease

        def run(conn: sqlite3.Connection) -> list[Pending]:
            _fold_held(conn, channel, now)
            rows = conn.execute(CLAIM, {"channel": channel, "now": now, "limit": limit}).fetchall()
            conn.executemany(
                "UPDATE notifications SET lease_until = ?, claims = claims + 1 WHERE id = ?",
                [(until, row[0]) for row in rows],
            )
            return [
                Pending(
                    Claim(str(row[0]), str(row[11] + 1), until),
                    str(row[1]),
                    row[2],
                    row[3],
                    row[4],
                    row[5],
                    row[6],
                    row[7],
                    row[8],
                    bool(row[9]),
                    bool(row[10]),
                    row[12],
                )
                for row in rows
            ]

        return await self._run(run, synced=False)

    async def next_due(self, channel: str) -> float | None:
        def run(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(NEXT_DUE, {"channel": channel}).fetchone()
            return None if row is None else row[0]

        return await self._run(run, synced=False)

    async def finish(self, updates: Sequence[Update]) -> None:
        # Every outcome ends the claim, and only the claim's latest holder may record one.
        def run(conn: sqlite3.Connection) -> None:
            for update in updates:
                held = (update.claim.id, update.claim.token)
                if isinstance(update, Sent):
                    ref = (None, None) if update.ref is None else (update.ref.conversation, update.ref.id)
                    conn.execute(
                        "UPDATE notifications SET state = 'sent', done_at = ?, attempts = attempts + 1, reason = ?,"
                        " ref_conversation = ?, ref_id = ?, lease_until = 0"
                        " WHERE id = ? AND claims = ? AND state = 'pending'",
                        (update.at, update.detail, *ref, *held),
                    )
                elif isinstance(update, Retry):
                    conn.execute(
                        "UPDATE notifications SET next_at = ?, attempts = attempts + 1, reason = ?, lease_until = 0"
                        " WHERE id = ? AND claims = ? AND state = 'pending'",
                        (update.next_at, update.reason, *held),
                    )
                elif isinstance(update, Dead):
                    conn.execute(
                        "UPDATE notifications SET state = 'dead', done_at = ?, attempts = attempts + 1, reason = ?,"
                        " lease_until = 0 WHERE id = ? AND claims = ? AND state = 'pending'",
                        (update.at, update.reason, *held),
                    )
                else:
                    assert isinstance(update, Release)
                    conn.execute(
                        "UPDATE notifications SET lease_until = 0 WHERE id = ? AND claims = ? AND state = 'pending'",
                        held,
                    )

        await self._run(run, synced=False)

    async def message_ref(self, notification: NotificationId) -> MessageRef | None:
        def run(conn: sqlite3.Connection) -> MessageRef | None:
            row = conn.execute(
                "SELECT ref_conversation, ref_id FROM notifications WHERE id = ? AND ref_id IS NOT NULL",
                (notification,),
            ).fetchone()
            return None if row is None else MessageRef(*row)

        return await self._run(run, synced=False)

    async def run_thread(self, channel: str, context: str) -> RunThread | None:
        since = self._clock.time() - self._retention.thread_max_age

        def run(conn: sqlite3.Connection) -> RunThread | None:
            row = conn.execute(
                "SELECT conversation, message, state, started FROM run_threads"
                " WHERE channel = ? AND context = ? AND started >= ?",
                (channel, context, since),
            ).fetchone()
            return None if row is None else RunThread(MessageRef(row[0], row[1]), bytes(row[2]), row[3])

        return await self._run(run, synced=False)

    async def save_run_thread(self, channel: str, context: str, thread: RunThread) -> None:
        row = (channel, context, thread.ref.conversation, thread.ref.id, thread.state, thread.started)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO run_threads (channel, context, conversation, message, state, started)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )

        # Like a send's outcome: it survives the process (kill -9), and the next synced commit the machine.
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
                " lease_until = 0"
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
        retention = Retention(window, max_entries, self._retention.thread_max_age)
        return await self._run(lambda conn: _forget(conn, now, retention), synced=False)

    async def channel_pause(self, channel: str, until: float = 0.0) -> float:
        return self._pauses.extend(channel, until)

    async def channel_slot(self, channel: str, interval: float, burst: int) -> float:
        return self._clock.time()

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


def _decide_noise(conn: sqlite3.Connection, route: str, channel: str, noise: Noise, now: float) -> NoiseVerdict:
    """Noise control's decision for one notification, with the memory it reads and writes in this transaction."""
    last_sent = None
    if noise.key is not None:
        row = conn.execute(
            "SELECT sent FROM noise_repeats WHERE route = ? AND channel = ? AND key = ?", (route, channel, noise.key)
        ).fetchone()
        last_sent = None if row is None else row[0]
    row = conn.execute("SELECT state FROM noise_windows WHERE route = ? AND channel = ?", (route, channel)).fetchone()
    verdict = noise.decide(now, last_sent, None if row is None else bytes(row[0]))
    if verdict.window is not None:
        conn.execute(
            "INSERT OR REPLACE INTO noise_windows (route, channel, state) VALUES (?, ?, ?)",
            (route, channel, verdict.window),
        )
    if noise.key is not None and verdict.sent_until is not None:
        conn.execute(
            "INSERT OR REPLACE INTO noise_repeats (route, channel, key, sent, until) VALUES (?, ?, ?, ?, ?)",
            (route, channel, noise.key, now, verdict.sent_until),
        )
    noise.applied = verdict
    return verdict


def _fold_held(conn: sqlite3.Connection, channel: str, now: float) -> None:
    """Replace the channel's due held notifications, per route and due time, by one pending digest each."""
    groups = conn.execute(
        "SELECT DISTINCT route, next_at FROM notifications"
        " WHERE channel = ? AND state = 'pending' AND held != '' AND next_at <= ?",
        (channel, now),
    ).fetchall()
    for route, due in groups:
        held = conn.execute(
            "SELECT n.id, n.held, n.template, e.body FROM notifications n JOIN events e ON e.seq = n.event_seq"
            " WHERE n.channel = ? AND n.route = ? AND n.next_at = ? AND n.state = 'pending' AND n.held != ''"
            " ORDER BY n.id",
            (channel, route, due),
        ).fetchall()
        ids = [row[0] for row in held]
        body = b"[" + b",".join(bytes(row[3]) for row in held) + b"]"
        seq = conn.execute(
            "INSERT INTO events (key, received, type, context, body) VALUES (?, ?, ?, '', ?)",
            (f"\x1fdigest\x1f{channel}\x1f{ids[0]}", now, DIGEST_TYPE, body),
        ).lastrowid
        conn.execute(
            "INSERT INTO notifications (event_seq, channel, route, template, state, created, next_at, digest)"
            " VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
            (seq, channel, route, held[0][2], now, now, ",".join(sorted({row[1] for row in held}))),
        )
        conn.executemany("DELETE FROM notifications WHERE id = ?", [(one,) for one in ids])


def _forget(conn: sqlite3.Connection, now: float, retention: Retention) -> int:
    conn.execute("DELETE FROM noise_repeats WHERE until < ?", (now,))
    conn.execute("DELETE FROM run_threads WHERE started < ?", (now - retention.thread_max_age,))
    total = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    over = max(0, total - retention.max_entries)
    doomed = [row[0] for row in conn.execute(FORGETTABLE_EVENTS, (now - retention.window, over))]
    conn.executemany("DELETE FROM notifications WHERE event_seq = ?", [(seq,) for seq in doomed])
    conn.executemany("DELETE FROM events WHERE seq = ?", [(seq,) for seq in doomed])
    return len(doomed)


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
