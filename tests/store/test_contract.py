"""The store contract (notifier/store/protocol.py), run against every implementation on a fake clock."""

import asyncio
import itertools
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from notifier.message import MessageRef
from notifier.store import (
    SILENCE_KEPT,
    Dead,
    Incoming,
    Member,
    MutedCount,
    Outgoing,
    Release,
    Retention,
    Retry,
    RunThread,
    Sent,
    SilenceRecord,
    Storage,
    Store,
    StoreError,
)
from notifier.store.jetstream.store import JetStreamStore, jetstream_storage
from notifier.store.sqlite import sqlite_storage
from tests.clock import FakeClock
from tests.memory_store import FORGET_INTERVAL, memory_storage
from tests.nats_server import NatsServer, drop_streams, nats_server

__all__ = ["nats_server"]  # the fixture, one NATS server for the module

RETENTION = Retention(window=3600, max_entries=100_000)
THREAD_MAX_AGE = 14 * 86400.0
LEASE = 30.0
A = [Outgoing("a", "r", None)]


def incoming(key: str, notifications: list[Outgoing] = A, body: bytes = b"{}") -> Incoming:
    return Incoming(key, "sh.keptn.event.evaluation.finished", f"ctx-{key}", body, notifications)


def new(outcomes: list[object]) -> list[bool]:
    return [outcome.new for outcome in outcomes]


MakeStorage = Callable[..., Storage]
# Each test's JetStream store gets streams of its own on the module's one server.
PREFIXES = (f"contract{index}" for index in itertools.count())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "memory", "jetstream"])
async def make_storage(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> AsyncIterator[MakeStorage]:
    opened: list[Storage] = []
    prefix = next(PREFIXES)
    servers: list[str] = []

    def make(retention: Retention = RETENTION, thread_max_age: float = THREAD_MAX_AGE) -> Storage:
        storage: Storage
        if request.param == "sqlite":
            storage = sqlite_storage(tmp_path / f"state-{len(opened)}", clock, retention, thread_max_age)
        elif request.param == "jetstream":
            server: NatsServer = request.getfixturevalue("nats_server")
            servers.append(server.url)
            storage = jetstream_storage(
                JetStreamStore(server.url, prefix, clock, retention, thread_max_age, lease=LEASE), clock
            )
        else:
            storage = memory_storage(clock, retention, thread_max_age)
        opened.append(storage)
        return storage

    yield make
    for storage in opened:
        await storage.store.close()
    if servers:
        await drop_streams(servers[0], prefix)


def on_jetstream(request: pytest.FixtureRequest) -> bool:
    return bool(request.node.callspec.params.get("make_storage") == "jetstream")


def jetstream_differs(request: pytest.FixtureRequest, why: str) -> None:
    """Skip for the JetStream store what it leaves to the NATS server: the dedup bucket's own bound.
    tests/store/test_jetstream.py checks it the server's way."""
    if on_jetstream(request):
        pytest.skip(f"JetStream: {why}")


@pytest.fixture
async def storage(make_storage: MakeStorage) -> Storage:
    storage = make_storage(RETENTION)
    await storage.store.open()
    return storage


@pytest.fixture
def store(storage: Storage) -> Store:
    return storage.store


async def test_the_protocol_module_loads_no_implementation_and_no_library() -> None:
    probe = "import sys, notifier.store.protocol; print(' '.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split()
    )
    assert "notifier.store.protocol" in loaded
    for heavy in ("sqlite3", "_sqlite3", "pydantic", "aiohttp", "slack_sdk", "cloudevents", "orjson", "yaml"):
        assert heavy not in loaded
    for ours in ("notifier.config", "notifier.pipeline", "notifier.keptn", "notifier.noise", "notifier.store.sqlite"):
        assert ours not in loaded


async def test_accept_stores_one_notification_per_destination_and_dedups_by_key(store: Store, clock: FakeClock) -> None:
    both = [Outgoing("a", "r", None), Outgoing("b", "r", "custom")]
    assert new(await store.accept([incoming("1", both), incoming("1", both), incoming("2", both)])) == [
        True,
        False,
        True,
    ]
    assert new(await store.accept([incoming("2", both)])) == [False]
    stats = await store.stats()
    assert {name: (s.pending, s.oldest_created) for name, s in stats.items()} == {
        "a": (2, clock.time()),
        "b": (2, clock.time()),
    }
    claimed = await store.claim("b", 10, LEASE)
    assert [(p.channel, p.route, p.template, p.keptn_context) for p in claimed] == [
        ("b", "r", "custom", "ctx-1"),
        ("b", "r", "custom", "ctx-2"),
    ]
    # notifications of one event share its event id (the render cache's key), and ids are opaque strings
    same_event = [p for p in (await store.claim("a", 10, LEASE)) + claimed if p.keptn_context == "ctx-1"]
    assert len({p.event for p in same_event}) == 1 and len({p.id for p in same_event}) == 2
    assert all(isinstance(p.id, str) for p in claimed)


async def test_claim_takes_the_oldest_due_first_and_nothing_claimed(store: Store, clock: FakeClock) -> None:
    for index in range(5):
        await store.accept([incoming(str(index), body=b'{"n": %d}' % index)])
        await clock.advance(1)
    first = await store.claim("a", 2, LEASE)
    assert [p.body for p in first] == [b'{"n": 0}', b'{"n": 1}']
    assert all(p.claim.until == clock.time() + LEASE for p in first)
    rest = await store.claim("a", 10, LEASE)
    assert [p.body for p in rest] == [b'{"n": 2}', b'{"n": 3}', b'{"n": 4}']
    assert await store.claim("a", 10, LEASE) == []
    assert await store.claim("nobody", 10, LEASE) == []
    assert await store.next_due("a") == clock.time() + LEASE


async def test_an_expired_lease_makes_it_claimable_again_and_the_old_holder_can_no_longer_finish(
    store: Store, clock: FakeClock
) -> None:
    await store.accept([incoming("1")])
    (old,) = await store.claim("a", 1, LEASE)
    await clock.advance(LEASE - 1)
    assert await store.claim("a", 1, LEASE) == []
    await clock.advance(1)
    (new,) = await store.claim("a", 1, LEASE)
    assert new.id == old.id and new.claim.token != old.claim.token
    await store.finish([Dead(old.claim, clock.time(), "stale holder")])
    assert await store.dead_letters() == []
    assert (await store.stats())["a"].pending == 1
    await store.finish([Sent(new.claim, clock.time())])
    assert await store.stats() == {}


async def test_two_consumers_claiming_at_once_never_hold_the_same_notification(store: Store) -> None:
    await store.accept([incoming(str(index)) for index in range(50)])
    batches = await asyncio.gather(*(store.claim("a", 7, LEASE) for _ in range(10)))
    ids = [p.id for batch in batches for p in batch]
    assert len(ids) == len(set(ids)) == 50


async def test_finishing_ends_the_claim_sent_retry_dead_and_release(store: Store, clock: FakeClock) -> None:
    await store.accept([incoming(key) for key in ("sent", "retry", "dead", "release")])
    sent, retry, dead, release = await store.claim("a", 4, LEASE)
    await store.finish(
        [
            Sent(sent.claim, clock.time(), "HTTP 200"),
            Retry(retry.claim, clock.time() + 10, "server_error: HTTP 500"),
            Dead(dead.claim, clock.time(), "no_service: HTTP 404"),
            Release(release.claim),
        ]
    )
    assert (await store.stats())["a"].pending == 2
    (again,) = await store.claim("a", 10, LEASE)
    assert again.id == release.id and again.attempts == 0
    await store.finish([Release(again.claim)])
    assert await store.next_due("a") == clock.time()
    await clock.advance(10)
    later = await store.claim("a", 10, LEASE)
    assert {p.id for p in later} == {retry.id, release.id}
    assert {p.id: p.attempts for p in later}[retry.id] == 1
    # finishing twice changes nothing the second time
    await store.finish([Sent(sent.claim, clock.time()), Dead(sent.claim, clock.time(), "late")])
    (letter,) = await store.dead_letters()
    assert (letter.id, letter.channel, letter.route, letter.reason, letter.attempts) == (
        dead.id,
        "a",
        "r",
        "no_service: HTTP 404",
        1,
    )
    assert letter.event_type == "sh.keptn.event.evaluation.finished" and letter.body == b"{}"


async def test_next_due_is_the_earliest_retry_or_lease_end(store: Store, clock: FakeClock) -> None:
    assert await store.next_due("a") is None
    await store.accept([incoming("1"), incoming("2")])
    one, two = await store.claim("a", 2, LEASE)
    await store.finish([Retry(one.claim, clock.time() + 100, "later")])
    assert await store.next_due("a") == clock.time() + LEASE
    await store.finish([Retry(two.claim, clock.time() + 5, "sooner")])
    assert await store.next_due("a") == clock.time() + 5
    await clock.advance(5)
    (two,) = await store.claim("a", 2, LEASE)
    await store.finish([Sent(two.claim, clock.time())])
    assert await store.next_due("a") == clock.time() + 95


async def test_dead_letters_are_listed_retried_by_id_or_all_and_purged_by_age(store: Store, clock: FakeClock) -> None:
    await store.accept([incoming(key) for key in ("x", "y", "z")])
    x, y, z = await store.claim("a", 3, LEASE)
    await store.finish([Dead(x.claim, clock.time(), "first")])
    await clock.advance(3600)
    await store.finish([Dead(y.claim, clock.time(), "second"), Dead(z.claim, clock.time(), "third")])
    assert [letter.reason for letter in await store.dead_letters()] == ["first", "second", "third"]
    assert [letter.died for letter in await store.dead_letters()] == [clock.time() - 3600, clock.time(), clock.time()]
    assert await store.purge_dead(60) == 1
    assert await store.retry_dead([y.id, y.id, "not-an-id", "99999"]) == 1
    assert [letter.id for letter in await store.dead_letters()] == [z.id]
    await clock.advance(1)
    (retried,) = await store.claim("a", 10, LEASE)
    assert (retried.id, retried.attempts, retried.created) == (y.id, 0, clock.time() - 1)
    assert await store.retry_dead(None) == 1
    assert await store.dead_letters() == []
    assert (await store.stats())["a"].pending == 2


async def test_accepting_forgets_sent_events_past_the_window_but_never_unsent_ones(
    make_storage: MakeStorage, clock: FakeClock
) -> None:
    store = make_storage(Retention(window=5, max_entries=1000)).store
    await store.open()
    await store.accept([incoming(str(index)) for index in range(3)])
    first, second, _ = await store.claim("a", 10, LEASE)
    await store.finish([Sent(first.claim, clock.time()), Sent(second.claim, clock.time())])
    await clock.advance(FORGET_INTERVAL)
    assert new(await store.accept([incoming("new")])) == [True]
    # the window passed: the sent ones may come again; the unsent one is still a duplicate
    assert new(await store.accept([incoming("0"), incoming("1"), incoming("2")])) == [True, True, False]


async def test_accepting_forgets_the_oldest_sent_events_beyond_the_size_bound(
    make_storage: MakeStorage, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    jetstream_differs(
        request, "the bucket drops its oldest key as a new one comes (max_msgs), not every FORGET_INTERVAL"
    )
    store = make_storage(Retention(window=3600, max_entries=100)).store
    await store.open()
    await store.accept([incoming(str(index)) for index in range(150)])
    await store.finish([Sent(p.claim, clock.time()) for p in await store.claim("a", 200, LEASE)])
    await clock.advance(FORGET_INTERVAL)
    assert new(await store.accept([incoming("new")])) == [True]
    assert new(await store.accept([incoming("0"), incoming("49"), incoming("50"), incoming("149")])) == [
        True,
        True,
        False,
        False,
    ]


async def test_health_is_ok_while_open_and_says_why_not_when_closed(store: Store) -> None:
    assert (await store.health()).ok
    await store.close()
    health = await store.health()
    assert not health.ok and health.problem
    with pytest.raises(StoreError):
        await store.accept([incoming("1")])
    with pytest.raises(StoreError):
        await store.claim("a", 1, LEASE)


async def test_a_channel_pause_only_ever_extends_and_is_per_channel(storage: Storage, clock: FakeClock) -> None:
    pace = storage.pace
    assert await pace.pause("a") <= clock.time()
    assert await pace.pause("a", clock.time() + 30) == clock.time() + 30
    assert await pace.pause("a", clock.time() + 5) == clock.time() + 30
    assert await pace.pause("a") == clock.time() + 30
    assert await pace.pause("b") <= clock.time()


async def test_a_quiet_channel_may_send_at_once(storage: Storage, clock: FakeClock) -> None:
    assert await storage.pace.slot("a", 1.0, 1) == clock.time()
    assert await storage.pace.slot("b", 0.25, 3) == clock.time()


# -- decided in accept's transaction, and groups claimed as one --------------------------------------------------


class Script:
    """A `decide` that answers from a script and remembers what the store gave it."""

    def __init__(self, *answers: tuple[bytes | None, Outgoing | None]) -> None:
        self.answers = list(answers)
        self.seen: list[tuple[bytes | None, float]] = []

    def __call__(self, document: bytes | None, now: float) -> tuple[bytes | None, Outgoing | None]:
        self.seen.append((document, now))
        return self.answers.pop(0)


def decided(script: Script, memo: str = "r/a", channel: str = "a") -> list[Outgoing]:
    return [Outgoing(channel, "r", None, memo=memo, decide=script)]


def held(note: str, due: float, group: str = "g1") -> Outgoing:
    return Outgoing("a", "r", None, due=due, group=group, note=note)


async def test_decide_sees_the_document_it_left_under_its_key_and_stores_what_it_says(
    store: Store, clock: FakeClock
) -> None:
    plain = Outgoing("a", "r", None)
    script = Script((b"w1", plain), (None, None), (b"w2", plain))
    first, second, third = decided(script), decided(script), decided(script, memo="r/other")
    outcome = await store.accept([incoming("1", first)])
    assert outcome[0].new and outcome[0].stored == (plain,)
    await clock.advance(5)
    # a duplicate is not decided at all; what decide stores nothing of is None
    outcomes = await store.accept([incoming("2", second), incoming("1", decided(Script()))])
    assert new(outcomes) == [True, False] and outcomes[0].stored == (None,)
    assert new(await store.accept([incoming("3", third)])) == [True]
    start = clock.time() - 5
    # the document is the key's; a decision that keeps it as it is (None) leaves it
    assert script.seen == [(None, start), (b"w1", start + 5), (None, start + 5)]
    # the one decide stored nothing of is not in the outbox; the other two are sent as usual
    assert [p.keptn_context for p in await store.claim("a", 10, LEASE)] == ["ctx-1", "ctx-3"]


async def test_a_group_waits_for_its_time_and_is_claimed_as_one(store: Store, clock: FakeClock) -> None:
    due = clock.time() + 30
    bodies = [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}', b'{"n": 4}']
    notifications = [A, [held("digest", due)], [held("quiet_hours", due)], [held("digest", due + 60, "g2")]]
    items = [incoming(str(i), n, body) for i, (n, body) in enumerate(zip(notifications, bodies, strict=True))]
    fresh = await store.accept(items)
    assert new(fresh) == [True] * 4
    (sent,) = await store.claim("a", 10, LEASE)
    assert sent.body == b'{"n": 1}' and sent.members == ()
    await store.finish([Sent(sent.claim, clock.time())])
    assert (await store.stats())["a"].pending == 3  # held ones wait in the outbox
    assert await store.next_due("a") == due
    await clock.advance(29)
    assert await store.claim("a", 10, LEASE) == []
    await clock.advance(1)
    (group,) = await store.claim("a", 10, LEASE)
    assert (group.route, group.attempts, group.body, group.note) == ("r", 0, b'{"n": 2}', "digest")
    assert group.members == (Member(b'{"n": 2}', "digest"), Member(b'{"n": 3}', "quiet_hours"))
    # a group retries like any notification, and comes back whole
    await store.finish([Retry(group.claim, clock.time() + 5, "rate_limited")])
    await clock.advance(5)
    (again,) = await store.claim("a", 10, LEASE)
    assert (again.members, again.attempts) == (group.members, 1)
    await store.finish([Sent(again.claim, clock.time())])
    await clock.advance(60)
    (last,) = await store.claim("a", 10, LEASE)
    assert last.members == (Member(b'{"n": 4}', "digest"),)
    await store.finish([Sent(last.claim, clock.time())])
    assert await store.stats() == {}


async def test_sqlite_keeps_groups_and_documents_across_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    first = sqlite_storage(tmp_path, clock, RETENTION, THREAD_MAX_AGE).store
    await first.open()
    due = clock.time() + 30
    await first.accept([incoming("1", decided(Script((b"window", held("digest", due)))), b'{"n": 1}')])
    await first.close()
    again = sqlite_storage(tmp_path, clock, RETENTION, THREAD_MAX_AGE).store
    await again.open()
    try:
        later = Script((None, None))
        await again.accept([incoming("2", decided(later))])
        assert later.seen == [(b"window", clock.time())]
        await clock.advance(30)
        (group,) = await again.claim("a", 10, LEASE)
        assert group.members == (Member(b'{"n": 1}', "digest"),)
    finally:
        await again.close()


async def test_a_dead_group_is_a_dead_letter_each_and_comes_back_as_one(store: Store, clock: FakeClock) -> None:
    due = clock.time() + 10
    await store.accept(
        [incoming("1", [held("digest", due)], b'{"n": 1}'), incoming("2", [held("digest", due)], b'{"n": 2}')]
    )
    await clock.advance(10)
    (group,) = await store.claim("a", 10, LEASE)
    await store.finish([Dead(group.claim, clock.time(), "channel_not_found")])
    letters = await store.dead_letters()
    assert [(letter.body, letter.reason) for letter in letters] == [
        (b'{"n": 1}', "channel_not_found"),
        (b'{"n": 2}', "channel_not_found"),
    ]
    assert await store.retry_dead(None) == 2
    (again,) = await store.claim("a", 10, LEASE)
    assert again.members == group.members


async def test_a_stale_holder_of_a_group_changes_none_of_it(store: Store, clock: FakeClock) -> None:
    due = clock.time() + 10
    await store.accept([incoming(str(i), [held("digest", due)]) for i in range(3)])
    await clock.advance(10)
    (old,) = await store.claim("a", 10, LEASE)
    await clock.advance(LEASE)
    (new_claim,) = await store.claim("a", 10, LEASE)
    assert len(new_claim.members) == 3
    await store.finish([Sent(old.claim, clock.time())])
    assert (await store.stats())["a"].pending == 3
    await store.finish([Sent(new_claim.claim, clock.time())])
    assert await store.stats() == {}


# -- runs in threads: order within a run, and the run's thread --------------------------------------------


def of_run(key: str, run: str, notifications: list[Outgoing] | None = None) -> Incoming:
    ordered = notifications if notifications is not None else [Outgoing("a", "r", None, order=run)]
    return Incoming(key, "sh.keptn.event.test.finished", run, key.encode(), ordered)


async def test_only_the_oldest_pending_notification_of_a_run_is_handed_out(store: Store, clock: FakeClock) -> None:
    both = [Outgoing("a", "r", None, order="run-x", broadcast=True), Outgoing("b", "r", None)]
    await store.accept([of_run("1", "run-x", both), of_run("2", "run-x"), of_run("3", "run-y"), incoming("4")])
    await store.accept([of_run("5", "run-x")])
    first = await store.claim("a", 10, LEASE)
    assert [(p.body, p.order, p.broadcast) for p in first] == [
        (b"1", "run-x", True),
        (b"3", "run-y", False),
        (b"{}", "", False),
    ]
    # the channel that does not thread sends its copy at once, unordered
    assert [(p.body, p.order) for p in await store.claim("b", 10, LEASE)] == [(b"1", "")]
    x, y, plain = first
    await store.finish([Sent(y.claim, clock.time()), Sent(plain.claim, clock.time())])
    # run-y is empty now, and run-x's second waits while its first is held, even after the lease ran out
    assert await store.claim("a", 10, LEASE) == []
    await clock.advance(LEASE)
    (again,) = await store.claim("a", 10, LEASE)
    assert again.id == x.id
    await store.finish([Sent(again.claim, clock.time())])
    assert [p.body for p in await store.claim("a", 10, LEASE)] == [b"2"]


async def test_a_later_notification_of_a_run_never_overtakes_one_that_waits_for_its_retry(
    store: Store, clock: FakeClock
) -> None:
    await store.accept([of_run(str(index), "run-x") for index in range(3)] + [of_run("other", "run-y")])
    head, other = await store.claim("a", 10, LEASE)
    await store.finish([Retry(head.claim, clock.time() + 60, "server_error"), Sent(other.claim, clock.time())])
    # the run's followers are due, but they wait behind their head: the worker sleeps until the retry
    assert await store.next_due("a") == clock.time() + 60
    assert await store.claim("a", 10, LEASE) == []
    await clock.advance(60)
    (retried,) = await store.claim("a", 10, LEASE)
    assert (retried.body, retried.attempts) == (b"0", 1)
    await store.finish([Dead(retried.claim, clock.time(), "gave up")])
    # a dead head no longer holds the run up
    assert [p.body for p in await store.claim("a", 10, LEASE)] == [b"1"]


async def test_twenty_claims_at_once_of_one_run_hand_out_one_notification(store: Store) -> None:
    await store.accept([of_run(str(index), "run-x") for index in range(20)])
    batches = await asyncio.gather(*(store.claim("a", 5, LEASE) for _ in range(20)))
    assert [p.body for batch in batches for p in batch] == [b"0"]


async def test_a_run_thread_is_kept_per_channel_and_run_and_replaced_whole(storage: Storage, clock: FakeClock) -> None:
    threads = storage.threads
    assert await threads.get("a", "run-x") is None
    first = RunThread(MessageRef("C0123", "1.000001"), b'{"version": 1}', clock.time())
    await threads.put("a", "run-x", first)
    assert await threads.get("a", "run-x") == first
    assert await threads.get("b", "run-x") is None and await threads.get("a", "run-y") is None
    second = RunThread(MessageRef("C0123", "2.000002"), b'{"version": 1, "x": 2}', clock.time())
    await threads.put("a", "run-x", second)
    assert await threads.get("a", "run-x") == second


async def test_a_run_thread_expires_after_thread_max_age(make_storage: MakeStorage, clock: FakeClock) -> None:
    storage = make_storage(Retention(window=3600, max_entries=1000), thread_max_age=600)
    await storage.store.open()
    thread = RunThread(MessageRef("C0123", "1.000001"), b"{}", clock.time())
    await storage.threads.put("a", "run-x", thread)
    await clock.advance(600)
    assert await storage.threads.get("a", "run-x") == thread
    await clock.advance(1)
    assert await storage.threads.get("a", "run-x") is None
    # and a later put forgets it for good, so a new one starts afresh
    await clock.advance(FORGET_INTERVAL)
    await storage.threads.put("a", "run-y", RunThread(MessageRef("C0123", "2.0"), b"{}", clock.time()))
    assert await storage.threads.get("a", "run-x") is None


# -- silences: kept, ended, forgotten, and what each muted -------------------------------------------------------


def silence(name: str, starts: float, ends: float, **changes: object) -> SilenceRecord:
    return replace(SilenceRecord(name, ("stage=production",), starts, ends, "alice", "maintenance"), **changes)


async def test_a_silence_is_kept_whole_listed_by_start_and_replaced_by_its_id(
    storage: Storage, clock: FakeClock
) -> None:
    silences = storage.silences
    assert await silences.silences() == []
    now = clock.time()
    later = silence("b", now + 60, now + 3600, matchers=("type=sh.keptn.event.*.finished", "label:Problem URL!~a.*"))
    first = silence("a", now, now + 600, drop=True)
    await silences.put(later)
    await silences.put(first)
    assert await silences.silences() == [first, later]
    changed = replace(first, comment="maintenance, longer", ends=now + 1200)
    await silences.put(changed)
    assert await silences.silences() == [changed, later]


async def test_expire_ends_a_silence_now_and_never_lengthens_one(storage: Storage, clock: FakeClock) -> None:
    silences = storage.silences
    now = clock.time()
    running, pending, ended = (
        silence("run", now - 60, now + 600),
        silence("pend", now + 60, now + 600),
        silence("end", now - 600, now - 60),
    )
    for one in (running, pending, ended):
        await silences.put(one)
    assert await silences.expire("run", now) == replace(running, ends=now)
    # one that has not started yet starts and ends at once; one that ended stays as it was
    assert await silences.expire("pend", now) == replace(pending, starts=now, ends=now)
    assert await silences.expire("end", now) == ended
    assert await silences.expire("nobody", now) is None
    assert await silences.expire("with spaces and / in it", now) is None
    assert [(one.id, one.ends) for one in await silences.silences()] == [("end", now - 60), ("run", now), ("pend", now)]


async def test_an_ended_silence_is_listed_for_five_days_then_forgotten_with_its_counts(
    storage: Storage, clock: FakeClock
) -> None:
    silences = storage.silences
    now = clock.time()
    await silences.put(silence("old", now - 60, now))
    await silences.put(silence("long", now - 60, now + SILENCE_KEPT))
    await silences.count("old", "a", "evaluation/failed")
    await clock.advance(SILENCE_KEPT)
    assert [one.id for one in await silences.silences()] == ["long", "old"]
    assert await silences.muted("old") == [MutedCount("a", "evaluation/failed", 1)]
    await clock.advance(1)
    assert [one.id for one in await silences.silences()] == ["long"]
    assert await silences.muted("old") == []


async def test_what_a_silence_muted_is_counted_by_channel_and_kind_also_when_counted_at_once(
    storage: Storage, clock: FakeClock
) -> None:
    silences = storage.silences
    await silences.put(silence("s", clock.time(), clock.time() + 600))
    assert await silences.muted("s") == []
    counts = [("a", "evaluation/failed")] * 5 + [("b", "evaluation/failed"), ("a", "deployment/succeeded")]
    await asyncio.gather(*(silences.count("s", channel, kind) for channel, kind in counts))
    await silences.count("other", "a", "evaluation/failed")
    assert await silences.muted("s") == [
        MutedCount("a", "deployment/succeeded", 1),
        MutedCount("a", "evaluation/failed", 5),
        MutedCount("b", "evaluation/failed", 1),
    ]


async def test_a_summary_once_marked_made_stays_made(storage: Storage, clock: FakeClock) -> None:
    silences = storage.silences
    one = silence("s", clock.time() - 60, clock.time())
    await silences.put(one)
    await silences.summarised("s")
    await silences.summarised("nobody")
    assert await silences.silences() == [replace(one, summarised=True)]
    await silences.summarised("s")
    assert await silences.silences() == [replace(one, summarised=True)]


async def test_silences_survive_a_restart_of_sqlite(tmp_path: Path, clock: FakeClock) -> None:
    one = silence("s", clock.time(), clock.time() + 600)
    first = sqlite_storage(tmp_path, clock, RETENTION, THREAD_MAX_AGE)
    await first.store.open()
    await first.silences.put(one)
    await first.silences.count("s", "a", "evaluation/failed")
    await first.store.close()
    again = sqlite_storage(tmp_path, clock, RETENTION, THREAD_MAX_AGE, must_exist=True)
    await again.store.open()
    try:
        assert await again.silences.silences() == [one]
        assert await again.silences.muted("s") == [MutedCount("a", "evaluation/failed", 1)]
    finally:
        await again.store.close()
