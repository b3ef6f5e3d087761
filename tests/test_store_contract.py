"""The store contract (notifier/store/protocol.py), run against every implementation on a fake clock."""

import asyncio
import itertools
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest

from notifier.message_ref import MessageRef
from notifier.pipeline.routing import Target
from notifier.store import (
    DIGEST_TYPE,
    Dead,
    Incoming,
    Noise,
    NoiseVerdict,
    Release,
    Retention,
    Retry,
    RunThread,
    Sent,
    Store,
    StoreError,
)
from notifier.store.jetstream.store import JetStreamStore
from notifier.store.memory import FORGET_INTERVAL, MemoryStore
from notifier.store.sqlite import SQLiteStore
from tests.clock import FakeClock
from tests.nats_server import NatsServer, drop_streams, nats_server

__all__ = ["nats_server"]  # the fixture, one NATS server for the module

RETENTION = Retention(window=3600, max_entries=100_000)
LEASE = 30.0
A = [Target("a", "r", None)]


def incoming(key: str, destinations: list[Target] = A, body: bytes = b"{}") -> Incoming:
    return Incoming(key, "sh.keptn.event.evaluation.finished", f"ctx-{key}", body, destinations)


MakeStore = Callable[[Retention], Store]
# Each test's JetStream store gets streams of its own on the module's one server.
PREFIXES = (f"contract{index}" for index in itertools.count())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "memory", "jetstream"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> AsyncIterator[MakeStore]:
    opened: list[Store] = []
    prefix = next(PREFIXES)
    servers: list[str] = []

    def make(retention: Retention = RETENTION) -> Store:
        store: Store
        if request.param == "sqlite":
            store = SQLiteStore(tmp_path / f"state-{len(opened)}", clock, retention)
        elif request.param == "jetstream":
            server: NatsServer = request.getfixturevalue("nats_server")
            servers.append(server.url)
            store = JetStreamStore(server.url, prefix, clock, retention, lease=LEASE)
        else:
            store = MemoryStore(clock, retention)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
    if servers:
        await drop_streams(servers[0], prefix)


def on_jetstream(request: pytest.FixtureRequest) -> bool:
    return bool(request.node.callspec.params.get("make_store") == "jetstream")


def jetstream_differs(request: pytest.FixtureRequest, why: str) -> None:
    """Skip for the JetStream store what it leaves to the NATS server: the dedup bucket's own bound.
    tests/test_store_jetstream.py checks it the server's way."""
    if on_jetstream(request):
        pytest.skip(f"JetStream: {why}")


@pytest.fixture
async def store(make_store: MakeStore) -> Store:
    store = make_store(RETENTION)
    await store.open()
    return store


async def test_the_protocol_module_loads_no_implementation_and_no_library() -> None:
    probe = "import sys, notifier.store.protocol; print(' '.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split()
    )
    assert "notifier.store.protocol" in loaded
    for heavy in ("sqlite3", "_sqlite3", "pydantic", "aiohttp", "slack_sdk", "cloudevents", "orjson", "yaml"):
        assert heavy not in loaded
    for ours in ("notifier.config", "notifier.pipeline", "notifier.keptn", "notifier.store.sqlite"):
        assert ours not in loaded


async def test_accept_stores_one_notification_per_destination_and_dedups_by_key(store: Store, clock: FakeClock) -> None:
    both = [Target("a", "r", None), Target("b", "r", "custom")]
    assert await store.accept([incoming("1", both), incoming("1", both), incoming("2", both)]) == [True, False, True]
    assert await store.accept([incoming("2", both)]) == [False]
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


async def test_a_sent_notification_keeps_what_the_platform_created(store: Store, clock: FakeClock) -> None:
    await store.accept([incoming("1"), incoming("2")])
    threaded, plain = await store.claim("a", 2, LEASE)
    ref = MessageRef("C0123", "1700000001.000001")
    await store.finish([Sent(threaded.claim, clock.time(), "ok", ref), Sent(plain.claim, clock.time(), "ok")])
    assert await store.message_ref(threaded.id) == ref
    assert await store.message_ref(plain.id) is None
    assert await store.message_ref("no-such-id") is None


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
    make_store: MakeStore, clock: FakeClock
) -> None:
    store = make_store(Retention(window=5, max_entries=1000))
    await store.open()
    await store.accept([incoming(str(index)) for index in range(3)])
    first, second, _ = await store.claim("a", 10, LEASE)
    await store.finish([Sent(first.claim, clock.time()), Sent(second.claim, clock.time())])
    await clock.advance(FORGET_INTERVAL)
    assert await store.accept([incoming("new")]) == [True]
    # the window passed: the sent ones may come again; the unsent one is still a duplicate
    assert await store.accept([incoming("0"), incoming("1"), incoming("2")]) == [True, True, False]


async def test_accepting_forgets_the_oldest_sent_events_beyond_the_size_bound(
    make_store: MakeStore, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    jetstream_differs(
        request, "the bucket drops its oldest key as a new one comes (max_msgs), not every FORGET_INTERVAL"
    )
    store = make_store(Retention(window=3600, max_entries=100))
    await store.open()
    await store.accept([incoming(str(index)) for index in range(150)])
    await store.finish([Sent(p.claim, clock.time()) for p in await store.claim("a", 200, LEASE)])
    await clock.advance(FORGET_INTERVAL)
    assert await store.accept([incoming("new")]) == [True]
    assert await store.accept([incoming("0"), incoming("49"), incoming("50"), incoming("149")]) == [
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


async def test_a_channel_pause_only_ever_extends_and_is_per_channel(store: Store, clock: FakeClock) -> None:
    assert await store.channel_pause("a") <= clock.time()
    assert await store.channel_pause("a", clock.time() + 30) == clock.time() + 30
    assert await store.channel_pause("a", clock.time() + 5) == clock.time() + 30
    assert await store.channel_pause("a") == clock.time() + 30
    assert await store.channel_pause("b") <= clock.time()


async def test_a_quiet_channel_may_send_at_once(store: Store, clock: FakeClock) -> None:
    assert await store.channel_slot("a", 1.0, 1) == clock.time()
    assert await store.channel_slot("b", 0.25, 3) == clock.time()


# -- noise control: decided inside accept, held notifications folded into one digest at claim ------------------


class Recorder:
    """A noise decision that answers from a script and remembers what the store told it."""

    def __init__(self, *verdicts: NoiseVerdict) -> None:
        self.verdicts = list(verdicts)
        self.seen: list[tuple[float, float | None, bytes | None]] = []

    def __call__(self, now: float, last_sent_at: float | None, window: bytes | None) -> NoiseVerdict:
        self.seen.append((now, last_sent_at, window))
        return self.verdicts.pop(0)


def noisy(recorder: Recorder, key: str | None = "k", channel: str = "a") -> list[Target]:
    return [Target(channel, "r", None, noise=Noise(key, recorder))]


async def test_noise_decides_with_the_memory_it_asked_the_store_to_keep(store: Store, clock: FakeClock) -> None:
    decide = Recorder(
        NoiseVerdict(True, window=b"w1", sent_until=clock.time() + 60),
        NoiseVerdict(False),
        NoiseVerdict(True, window=b"w2"),
    )
    first, second, third = noisy(decide), noisy(decide), noisy(decide, key="other")
    assert await store.accept([incoming("1", first)]) == [True]
    await clock.advance(5)
    assert await store.accept([incoming("2", second), incoming("1", noisy(Recorder()))]) == [True, False]
    assert await store.accept([incoming("3", third)]) == [True]
    start = clock.time() - 5
    # the window is the route and channel's, the last send the key's; a suppressed one changes neither
    assert decide.seen == [(start, None, None), (start + 5, start, b"w1"), (start + 5, None, b"w1")]
    assert first[0].noise is not None and first[0].noise.applied == decide_verdict(first)
    assert second[0].noise is not None and second[0].noise.applied == NoiseVerdict(False)
    # the suppressed one is not stored; the other two are sent as usual
    assert [p.keptn_context for p in await store.claim("a", 10, LEASE)] == ["ctx-1", "ctx-3"]


def decide_verdict(targets: list[Target]) -> NoiseVerdict | None:
    noise = targets[0].noise
    return None if noise is None else noise.applied


async def test_held_notifications_wait_and_go_out_as_one_digest_per_route_and_time(
    store: Store, clock: FakeClock
) -> None:
    due = clock.time() + 30
    decide = Recorder(
        NoiseVerdict(True),
        NoiseVerdict(True, "digest", due),
        NoiseVerdict(True, "quiet_hours", due),
        NoiseVerdict(True, "digest", due + 60),
    )
    bodies = [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}', b'{"n": 4}']
    fresh = await store.accept([incoming(str(i), noisy(decide), body) for i, body in enumerate(bodies)])
    assert fresh == [True] * 4
    (sent,) = await store.claim("a", 10, LEASE)
    assert sent.body == b'{"n": 1}' and sent.digest == ""
    await store.finish([Sent(sent.claim, clock.time())])
    assert (await store.stats())["a"].pending == 3  # held ones wait in the outbox
    assert await store.next_due("a") == due
    await clock.advance(29)
    assert await store.claim("a", 10, LEASE) == []
    await clock.advance(1)
    (digest,) = await store.claim("a", 10, LEASE)
    assert (digest.route, digest.digest, digest.attempts) == ("r", "digest,quiet_hours", 0)
    assert orjson.loads(digest.body) == [{"n": 2}, {"n": 3}]
    # a digest retries like any notification, and comes back whole
    await store.finish([Retry(digest.claim, clock.time() + 5, "rate_limited")])
    await clock.advance(5)
    (again,) = await store.claim("a", 10, LEASE)
    assert (again.body, again.digest, again.attempts) == (digest.body, digest.digest, 1)
    await store.finish([Sent(again.claim, clock.time())])
    await clock.advance(60)
    (last,) = await store.claim("a", 10, LEASE)
    assert orjson.loads(last.body) == [{"n": 4}] and last.digest == "digest"
    await store.finish([Sent(last.claim, clock.time())])
    assert await store.stats() == {}


async def test_sqlite_keeps_held_notifications_and_noise_memory_across_a_restart(
    tmp_path: Path, clock: FakeClock
) -> None:
    first = SQLiteStore(tmp_path, clock, RETENTION)
    await first.open()
    due = clock.time() + 30
    decide = Recorder(NoiseVerdict(True, "digest", due, b"window", clock.time() + 60))
    await first.accept([incoming("1", noisy(decide), b'{"n": 1}')])
    await first.close()
    again = SQLiteStore(tmp_path, clock, RETENTION)
    await again.open()
    try:
        later = Recorder(NoiseVerdict(False))
        await again.accept([incoming("2", noisy(later))])
        assert later.seen == [(clock.time(), clock.time(), b"window")]
        await clock.advance(30)
        (digest,) = await again.claim("a", 10, LEASE)
        assert orjson.loads(digest.body) == [{"n": 1}] and digest.digest == "digest"
    finally:
        await again.close()


async def test_a_dead_digest_is_one_dead_letter_and_comes_back_whole(store: Store, clock: FakeClock) -> None:
    due = clock.time() + 10
    decide = Recorder(NoiseVerdict(True, "digest", due), NoiseVerdict(True, "digest", due))
    await store.accept([incoming("1", noisy(decide), b'{"n": 1}'), incoming("2", noisy(decide), b'{"n": 2}')])
    await clock.advance(10)
    (digest,) = await store.claim("a", 10, LEASE)
    await store.finish([Dead(digest.claim, clock.time(), "channel_not_found")])
    (letter,) = await store.dead_letters()
    assert (letter.event_type, orjson.loads(letter.body)) == (DIGEST_TYPE, [{"n": 1}, {"n": 2}])
    assert await store.retry_dead(None) == 1
    (again,) = await store.claim("a", 10, LEASE)
    assert (again.body, again.digest) == (digest.body, "digest")


# -- runs in threads: order within a run, and the run's thread --------------------------------------------

THREADED = [Target("a", "r", None, threaded=True)]


def of_run(key: str, run: str, destinations: list[Target] = THREADED) -> Incoming:
    return Incoming(key, "sh.keptn.event.test.finished", run, key.encode(), destinations)


async def test_only_the_oldest_pending_notification_of_a_run_is_handed_out(store: Store, clock: FakeClock) -> None:
    both = [Target("a", "r", None, threaded=True, broadcast=True), Target("b", "r", None)]
    await store.accept([of_run("1", "run-x", both), of_run("2", "run-x"), of_run("3", "run-y"), incoming("4")])
    await store.accept([of_run("5", "run-x")])
    first = await store.claim("a", 10, LEASE)
    assert [(p.body, p.threaded, p.broadcast) for p in first] == [
        (b"1", True, True),
        (b"3", True, False),
        (b"{}", False, False),
    ]
    # the channel that does not thread sends its copy at once, unordered
    assert [(p.body, p.threaded) for p in await store.claim("b", 10, LEASE)] == [(b"1", False)]
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


async def test_a_run_thread_is_kept_per_channel_and_run_and_replaced_whole(store: Store, clock: FakeClock) -> None:
    assert await store.run_thread("a", "run-x") is None
    first = RunThread(MessageRef("C0123", "1.000001"), b'{"version": 1}', clock.time())
    await store.save_run_thread("a", "run-x", first)
    assert await store.run_thread("a", "run-x") == first
    assert await store.run_thread("b", "run-x") is None and await store.run_thread("a", "run-y") is None
    second = RunThread(MessageRef("C0123", "2.000002"), b'{"version": 1, "x": 2}', clock.time())
    await store.save_run_thread("a", "run-x", second)
    assert await store.run_thread("a", "run-x") == second


async def test_a_run_thread_expires_after_thread_max_age(make_store: MakeStore, clock: FakeClock) -> None:
    store = make_store(Retention(window=3600, max_entries=1000, thread_max_age=600))
    await store.open()
    thread = RunThread(MessageRef("C0123", "1.000001"), b"{}", clock.time())
    await store.save_run_thread("a", "run-x", thread)
    await clock.advance(600)
    assert await store.run_thread("a", "run-x") == thread
    await clock.advance(1)
    assert await store.run_thread("a", "run-x") is None
    # and accepting forgets it for good, so saving a new one starts afresh
    await clock.advance(FORGET_INTERVAL)
    await store.accept([incoming("new")])
    assert await store.run_thread("a", "run-x") is None
