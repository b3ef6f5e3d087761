import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

import pytest

from notifier.clock import SystemClock
from notifier.keptn.events import KeptnEvent, event_from_mapping
from notifier.store import Claim, Dead, Incoming, Outgoing, Release, Retention, Retry, Sent, Store, StoreError
from notifier.store.sqlite import SQLiteStore


def event(event_id: str, source: str = "lighthouse-service"):
    return event_from_mapping(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": "sh.keptn.event.evaluation.finished",
            "data": {"project": "p"},
        }
    )


TARGETS = [Outgoing("a", "r", None), Outgoing("b", "r", "custom")]
RETENTION = Retention(window=3600, max_entries=100_000)
LEASE = 60


def incoming(event: KeptnEvent, body: bytes, targets: list[Outgoing]) -> Incoming:
    return Incoming(event.dedup_key, event.type, event.keptn_context, body, targets)


async def accepted(store: Store, items: list[Incoming]) -> list[bool]:
    """Which events were new."""
    return [outcome.new for outcome in await store.accept(items)]


def sqlite_store(state_dir: Path) -> SQLiteStore:
    return SQLiteStore(state_dir, SystemClock(), RETENTION)


@pytest.fixture
async def store(tmp_path: Path):
    store = sqlite_store(tmp_path)
    await store.open()
    yield store
    await store.close()


async def test_accept_stores_one_notification_per_target_and_dedups_by_source_and_id(store: SQLiteStore) -> None:
    fresh = await accepted(
        store,
        [
            incoming(event("1"), b"{}", TARGETS),
            incoming(event("1"), b"{}", TARGETS),
            incoming(event("1", source="other"), b"{}", TARGETS),
        ],
    )
    assert fresh == [True, False, True]
    assert await accepted(store, [incoming(event("1"), b"{}", TARGETS)]) == [False]
    stats = await store.stats()
    assert stats["a"].pending == 2 and stats["b"].pending == 2


async def test_concurrent_accepts_share_commits_and_all_land(store: SQLiteStore) -> None:
    results = await asyncio.gather(
        *(accepted(store, [incoming(event(str(i)), b"{}", TARGETS[:1])]) for i in range(500))
    )
    assert all(result == [True] for result in results)
    assert (await store.stats())["a"].pending == 500


async def test_due_orders_by_time_and_skips_claimed_and_future(store: SQLiteStore) -> None:
    await accepted(store, [incoming(event(str(i)), b'{"n": %d}' % i, TARGETS[:1]) for i in range(5)])
    now = time.time() + 1
    first = await store.claim("a", 2, LEASE)
    assert [p.body for p in first] == [b'{"n": 0}', b'{"n": 1}']
    second = await store.claim("a", 10, LEASE)
    assert len(second) == 3
    await store.finish([Retry(second[0].claim, now + 60, "server_error"), Sent(second[1].claim, now)])
    # claimed and given back: claimable again; sent or due later: not
    await store.finish([Release(p.claim) for p in (*first, second[2])])
    remaining = await store.claim("a", 10, LEASE)
    assert {p.id for p in remaining} == {first[0].id, first[1].id, second[2].id}
    assert await store.next_due("a") is not None


async def test_dead_letters_can_be_listed_retried_and_purged(store: SQLiteStore) -> None:
    await accepted(store, [incoming(event("x"), b"{}", TARGETS[:1]), incoming(event("y"), b"{}", TARGETS[:1])])
    items = await store.claim("a", 10, LEASE)
    await store.finish(
        [
            Dead(items[0].claim, time.time() - 3600, "no_service: revoked"),
            Dead(items[1].claim, time.time(), "invalid_blocks"),
        ]
    )
    letters = await store.dead_letters()
    assert [letter.reason for letter in letters] == ["no_service: revoked", "invalid_blocks"]
    assert letters[0].event_type == "sh.keptn.event.evaluation.finished"
    assert await store.purge_dead(60) == 1
    assert await store.retry_dead([letters[1].id]) == 1
    assert await store.dead_letters() == []
    assert (await store.stats())["a"].pending == 1


async def test_forget_old_keeps_events_with_unsent_notifications(store: SQLiteStore) -> None:
    await accepted(store, [incoming(event(str(i)), b"{}", TARGETS[:1]) for i in range(3)])
    items = await store.claim("a", 10, LEASE)
    await store.finish([Sent(items[0].claim, time.time()), Sent(items[1].claim, time.time())])
    assert await store.forget_old(time.time() + 10, window=5, max_entries=1000) == 2
    # the forgotten ids may come again (the window passed); the pending one is still a duplicate
    assert await accepted(
        store, [incoming(event("0"), b"{}", TARGETS[:1]), incoming(event("2"), b"{}", TARGETS[:1])]
    ) == [
        True,
        False,
    ]


async def test_size_bound_forgets_the_oldest_finished_first(store: SQLiteStore) -> None:
    await accepted(store, [incoming(event(str(i)), b"{}", TARGETS[:1]) for i in range(150)])
    items = await store.claim("a", 200, LEASE)
    await store.finish([Sent(item.claim, time.time()) for item in items])
    assert await store.forget_old(time.time(), window=3600, max_entries=100) == 50
    assert await accepted(
        store, [incoming(event("0"), b"{}", TARGETS[:1]), incoming(event("149"), b"{}", TARGETS[:1])]
    ) == [True, False]


async def test_state_survives_a_reopen(tmp_path: Path) -> None:
    first = sqlite_store(tmp_path)
    await first.open()
    await accepted(first, [incoming(event("1"), b"{}", TARGETS)])
    await first.close()
    second = sqlite_store(tmp_path)
    await second.open()
    assert (await second.stats())["b"].pending == 1
    assert await accepted(second, [incoming(event("1"), b"{}", TARGETS)]) == [False]
    await second.close()


async def test_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = sqlite_store(blocker / "state")
    with pytest.raises(StoreError, match="cannot create the state directory .*NOTIFIER_STATE_DIR"):
        await store.open()


def synchronous_now(conn) -> int:
    return conn.execute("PRAGMA synchronous").fetchone()[0]


def hold_the_writer(conn) -> None:
    time.sleep(0.05)  # operations queued meanwhile share the next transaction


async def test_a_commit_waits_for_the_disk_only_when_it_holds_a_promise(store: SQLiteStore) -> None:
    full, normal = 2, 1
    assert await store._run(synchronous_now, synced=False) == normal
    assert await store._run(synchronous_now) == full
    assert await store._run(synchronous_now, synced=False) == normal
    # one transaction with both: synced
    holding = asyncio.create_task(store._run(hold_the_writer))
    await asyncio.sleep(0.01)
    together = await asyncio.gather(store._run(synchronous_now, synced=False), store._run(synchronous_now))
    await holding
    assert together == [full, full]


async def test_accepting_is_synced_and_recording_an_outcome_is_not(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 202 promises the event is on disk; a send's outcome lost with the machine means one more send."""
    synced_by_call: list[bool] = []
    run = store._run

    async def recording(operation, synced: bool = True):
        synced_by_call.append(synced)
        return await run(operation, synced)

    monkeypatch.setattr(store, "_run", recording)
    await accepted(store, [incoming(event("p1"), b"{}", TARGETS)])
    await store.retry_dead(None)
    await store.purge_dead(0)
    assert synced_by_call == [True, True, True]
    synced_by_call.clear()
    await store.finish([Sent(Claim("1", "1", 0), time.time()), Retry(Claim("2", "1", 0), time.time(), "x")])
    await store.claim("a", 10, LEASE)
    await store.forget_old(time.time(), 3600, 100)
    assert synced_by_call == [False, False, False]


async def test_a_store_opened_alone_gives_back_the_claims_of_a_process_that_died(tmp_path: Path) -> None:
    crashed = sqlite_store(tmp_path)
    await crashed.open()
    await accepted(crashed, [incoming(event("1"), b"{}", TARGETS[:1])])
    assert len(await crashed.claim("a", 10, 3600)) == 1
    await crashed.close()  # without finishing: as if the process had died mid-send
    restarted = sqlite_store(tmp_path)
    await restarted.open()
    assert len(await restarted.claim("a", 10, 3600)) == 1
    await restarted.close()


async def test_a_store_opened_beside_a_running_one_leaves_its_claims_alone(tmp_path: Path) -> None:
    running = sqlite_store(tmp_path)
    await running.open()
    await accepted(running, [incoming(event("1"), b"{}", TARGETS[:1])])
    (held,) = await running.claim("a", 10, 3600)
    beside = sqlite_store(tmp_path)  # `keptn-notifier dead list` while the service runs
    await beside.open()
    assert await beside.claim("a", 10, 3600) == []
    await beside.close()
    await running.finish([Sent(held.claim, time.time())])
    assert await running.stats() == {}
    await running.close()


async def test_an_outbox_from_before_claims_is_upgraded_on_open(tmp_path: Path) -> None:
    old_schema = """
    CREATE TABLE events (seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, received REAL NOT NULL,
        type TEXT NOT NULL, context TEXT NOT NULL DEFAULT '', body BLOB NOT NULL);
    CREATE TABLE notifications (id INTEGER PRIMARY KEY, event_seq INTEGER NOT NULL REFERENCES events(seq),
        channel TEXT NOT NULL, route TEXT NOT NULL, template TEXT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')), attempts INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL, next_at REAL NOT NULL, done_at REAL, reason TEXT NOT NULL DEFAULT '');
    INSERT INTO events VALUES (1, 'src\x1fold', 0, 'sh.keptn.event.evaluation.finished', 'ctx', '{}');
    INSERT INTO notifications (event_seq, channel, route, state, created, next_at) VALUES (1, 'a', 'r', 'pending', 0, 0);
    """
    with contextlib.closing(sqlite3.connect(tmp_path / "notifier.sqlite3")) as conn:
        conn.executescript(old_schema)
    store = sqlite_store(tmp_path)
    await store.open()
    (old,) = await store.claim("a", 10, LEASE)
    assert old.keptn_context == "ctx"
    await store.finish([Sent(old.claim, time.time(), "ok")])
    assert await store.stats() == {}
    await store.close()


async def test_held_notifications_and_a_folded_digest_of_an_earlier_version_go_out_as_groups(tmp_path: Path) -> None:
    """Before groups, held rows waited by (route, time) and a digest was folded into one row of its own."""
    store = sqlite_store(tmp_path)
    await store.open()
    await store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "notifier.sqlite3")) as conn:
        conn.executescript(
            """
            CREATE TABLE noise_windows (route TEXT, channel TEXT, state BLOB);
            INSERT INTO events VALUES (1, 'e1', 0, 'sh.keptn.event.test.finished', '', '{"n": 1}');
            INSERT INTO events VALUES (2, 'e2', 0, 'sh.keptn.event.test.finished', '', '{"n": 2}');
            INSERT INTO events VALUES (3, 'd', 0, 'sh.keptn.notifier.digest', '', '[{"n": 3}, {"n": 4}]');
            INSERT INTO notifications (event_seq, channel, route, state, created, next_at, held)
                VALUES (1, 'a', 'r', 'pending', 0, 5, 'digest'), (2, 'a', 'r', 'pending', 0, 5, 'quiet_hours');
            INSERT INTO notifications (event_seq, channel, route, state, created, next_at, digest)
                VALUES (3, 'b', 'r', 'pending', 0, 0, 'digest,quiet_hours');
            """
        )
    store = sqlite_store(tmp_path)
    await store.open()
    try:
        (held,) = await store.claim("a", 10, LEASE)
        assert [(m.body, m.note) for m in held.members] == [(b'{"n": 1}', "digest"), (b'{"n": 2}', "quiet_hours")]
        (folded,) = await store.claim("b", 10, LEASE)
        assert [m.body for m in folded.members] == [b'{"n":3}', b'{"n":4}']
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "notifier.sqlite3")) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "noise_windows" not in tables


async def test_a_tool_that_reads_an_outbox_gets_a_clear_error_when_there_is_none(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "none", SystemClock(), RETENTION, must_exist=True)
    with pytest.raises(StoreError, match="no outbox in .*none: give the service's --state-dir"):
        await store.open()
    assert not (tmp_path / "none").exists()


async def test_an_operation_asked_for_while_the_store_closes_fails_at_once(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    await store.open()
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0)  # close() has sent the writer thread its stop and waits for it
    with pytest.raises(StoreError, match="closed"):
        await asyncio.wait_for(store.stats(), 5)
    await closing
