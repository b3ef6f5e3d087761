import asyncio
import time
from pathlib import Path

import pytest

from notifier.events import event_from_mapping
from notifier.routing import Target
from notifier.store import Dead, Retry, Sent, SQLiteStore, StoreError


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


TARGETS = [Target("a", "r", None), Target("b", "r", "custom")]


@pytest.fixture
async def store(tmp_path: Path):
    store = SQLiteStore(tmp_path)
    await store.open()
    yield store
    await store.close()


async def test_accept_stores_one_notification_per_target_and_dedups_by_source_and_id(store: SQLiteStore) -> None:
    fresh = await store.accept(
        [(event("1"), b"{}", TARGETS), (event("1"), b"{}", TARGETS), (event("1", source="other"), b"{}", TARGETS)]
    )
    assert fresh == [True, False, True]
    assert await store.accept([(event("1"), b"{}", TARGETS)]) == [False]
    stats = await store.stats()
    assert stats["a"].pending == 2 and stats["b"].pending == 2


async def test_concurrent_accepts_share_commits_and_all_land(store: SQLiteStore) -> None:
    results = await asyncio.gather(*(store.accept([(event(str(i)), b"{}", TARGETS[:1])]) for i in range(500)))
    assert all(result == [True] for result in results)
    assert (await store.stats())["a"].pending == 500


async def test_due_orders_by_time_and_skips_claimed_and_future(store: SQLiteStore) -> None:
    await store.accept([(event(str(i)), b'{"n": %d}' % i, TARGETS[:1]) for i in range(5)])
    now = time.time() + 1
    first = await store.due("a", now, 2, exclude=())
    assert [p.body for p in first] == [b'{"n": 0}', b'{"n": 1}']
    second = await store.due("a", now, 10, exclude={p.id for p in first})
    assert len(second) == 3
    await store.finish([Retry(second[0].id, now + 60, "server_error"), Sent(second[1].id, now)])
    remaining = await store.due("a", now, 10, exclude=())
    assert {p.id for p in remaining} == {first[0].id, first[1].id, second[2].id}
    assert await store.next_due("a") is not None


async def test_dead_letters_can_be_listed_retried_and_purged(store: SQLiteStore) -> None:
    await store.accept([(event("x"), b"{}", TARGETS[:1]), (event("y"), b"{}", TARGETS[:1])])
    items = await store.due("a", time.time() + 1, 10, ())
    await store.finish(
        [Dead(items[0].id, time.time() - 3600, "no_service: revoked"), Dead(items[1].id, time.time(), "invalid_blocks")]
    )
    letters = await store.dead_letters()
    assert [letter.reason for letter in letters] == ["no_service: revoked", "invalid_blocks"]
    assert letters[0].event_type == "sh.keptn.event.evaluation.finished"
    assert await store.purge_dead(time.time() - 60) == 1
    assert await store.retry_dead([letters[1].id], time.time()) == 1
    assert await store.dead_letters() == []
    assert (await store.stats())["a"].pending == 1


async def test_forget_old_keeps_events_with_unsent_notifications(store: SQLiteStore) -> None:
    await store.accept([(event(str(i)), b"{}", TARGETS[:1]) for i in range(3)])
    items = await store.due("a", time.time() + 1, 10, ())
    await store.finish([Sent(items[0].id, time.time()), Sent(items[1].id, time.time())])
    assert await store.forget_old(time.time() + 10, window=5, max_entries=1000) == 2
    # the forgotten ids may come again (the window passed); the pending one is still a duplicate
    assert await store.accept([(event("0"), b"{}", TARGETS[:1]), (event("2"), b"{}", TARGETS[:1])]) == [True, False]


async def test_size_bound_forgets_the_oldest_finished_first(store: SQLiteStore) -> None:
    await store.accept([(event(str(i)), b"{}", TARGETS[:1]) for i in range(150)])
    items = await store.due("a", time.time() + 1, 200, ())
    await store.finish([Sent(item.id, time.time()) for item in items])
    assert await store.forget_old(time.time(), window=3600, max_entries=100) == 50
    assert await store.accept([(event("0"), b"{}", TARGETS[:1]), (event("149"), b"{}", TARGETS[:1])]) == [True, False]


async def test_state_survives_a_reopen(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path)
    await first.open()
    await first.accept([(event("1"), b"{}", TARGETS)])
    await first.close()
    second = SQLiteStore(tmp_path)
    await second.open()
    assert (await second.stats())["b"].pending == 1
    assert await second.accept([(event("1"), b"{}", TARGETS)]) == [False]
    await second.close()


async def test_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = SQLiteStore(blocker / "state")
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
    await store.accept([(event("p1"), b"{}", TARGETS)])
    await store.retry_dead(None, time.time())
    await store.purge_dead(time.time())
    assert synced_by_call == [True, True, True]
    synced_by_call.clear()
    await store.finish([Sent(1, time.time()), Retry(2, time.time(), "x")])
    await store.due("a", time.time(), 10, ())
    await store.forget_old(time.time(), 3600, 100)
    assert synced_by_call == [False, False, False]
