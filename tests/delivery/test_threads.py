"""Run threads in a channel worker on the memory store, a scripted threading channel and a fake clock."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import notifier.keptn.events as events_module
from notifier.channels.base import RateLimit, SendResult
from notifier.delivery.compose import Composer
from notifier.delivery.pacing import Pacer
from notifier.delivery.priority import IntakePriority
from notifier.delivery.results import RetryPolicy
from notifier.delivery.threads import MAX_EDIT_YIELD, RunThreads
from notifier.delivery.worker import ChannelWorker
from notifier.keptn.events import load_event
from notifier.message import MessageRef, Payload
from notifier.metrics import Metrics
from notifier.redact import Redactor
from notifier.render import render
from notifier.runs.message import run_message
from notifier.runs.state import run_of
from notifier.store import Incoming, Outgoing, Retention, RunThread, Storage, StoreError
from notifier.templating import TemplateLimits, TemplateSet
from tests.clock import FakeClock
from tests.helpers import RUNS
from tests.memory_store import memory_storage

CHANNEL = "fake"
FILES = sorted((RUNS / "evaluation-failed").glob("*.json"))
# The reply titles of the run's first six events, in the order they happened.
TITLES = [
    "Sequence delivery triggered",
    "Deployment triggered",
    "Deployment started",
    "Deployment succeeded",
    "Tests triggered",
    "Tests started",
]


@dataclass
class Request:
    at: float
    kind: str  # post, reply or edit
    ref: MessageRef | None
    text: str


@dataclass
class ThreadingChannel:
    """Posts, replies and edits as a Slack bot channel would; each kind answers its script, then `sent`."""

    clock: FakeClock
    edit_takes: float = 0.0
    scripts: dict[str, deque[SendResult]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    edits_in_flight: int = 0
    most_edits_in_flight: int = 0
    name: str = CHANNEL
    format: str = "text"
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def send(
        self, payload: Payload, *, reply_to: MessageRef | None = None, replace: MessageRef | None = None
    ) -> SendResult:
        assert isinstance(payload, str)
        kind = "edit" if replace else "reply" if reply_to else "post"
        self.requests.append(Request(self.clock.monotonic(), kind, replace or reply_to, payload))
        if kind == "edit":
            self.edits_in_flight += 1
            self.most_edits_in_flight = max(self.most_edits_in_flight, self.edits_in_flight)
            await self.clock.sleep(self.edit_takes)
            self.edits_in_flight -= 1
        script = self.scripts.get(kind)
        if script:
            return script.popleft()
        return SendResult.sent(ref=replace or MessageRef("C1", f"{next(self._numbers)}.0"))

    def of(self, kind: str) -> list[Request]:
        return [request for request in self.requests if request.kind == kind]

    def reply_titles(self) -> list[str]:
        return [next(title for title in TITLES if title in r.text) for r in self.of("reply")]


@dataclass
class Rig:
    clock: FakeClock
    storage: Storage
    channel: ThreadingChannel
    worker: ChannelWorker

    async def accept(self, count: int) -> None:
        items = [
            Incoming(f"key-{path.name}", "t", "a8e4d2c6-1f3b-4e5a-8c7d-9b0e2f4a6c18", path.read_bytes(), THREADED)
            for path in FILES[:count]
        ]
        await self.storage.store.accept(items)
        self.worker.wake()

    async def replies(self, count: int) -> None:
        await self.clock.run_until(lambda: len(self.channel.of("reply")) >= count)

    async def edits_settle(self) -> None:
        """Until no edit is queued or in flight (call it once the replies are in)."""
        threads = self.worker_threads
        await self.clock.run_until(lambda: not threads.edits_queued and self.channel.edits_in_flight == 0)

    worker_threads: RunThreads


def newest_shown(edit: Request, count: int) -> bool:
    """Whether `edit` shows the run message of the run's state after its first `count` events."""
    state = run_of(load_event(path.read_bytes()) for path in FILES[:count])
    expected = render("text", run_message(state))
    assert isinstance(expected, str)
    _, *framed = edit.text.splitlines()
    return [line.removeprefix("┃ ") for line in framed] == expected.rstrip("\n").splitlines()


THREADED = [Outgoing(CHANNEL, "r", None, order="a8e4d2c6-1f3b-4e5a-8c7d-9b0e2f4a6c18")]
# Slack's default pacing (SlackConfig.default_rate_limit).
SLACK_PACE = RateLimit(per_second=1, burst=3)
# What the fake answers for the first message it is sent: the run message, in the tests below.
PARENT = MessageRef("C1", "1.0")


@pytest.fixture
def rate_limit() -> RateLimit | None:
    return None


@pytest.fixture
def edit_takes() -> float:
    return 0.0


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet(None, "", TemplateLimits())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def storage(clock: FakeClock) -> Storage:
    storage = memory_storage(clock, Retention(3600, 100_000), thread_max_age=3600)
    await storage.store.open()
    return storage


def make_worker(
    clock: FakeClock,
    storage: Storage,
    channel: ThreadingChannel,
    rate_limit: RateLimit | None,
    templates: TemplateSet,
) -> tuple[ChannelWorker, RunThreads]:
    metrics = Metrics()
    pacer = Pacer(rate_limit, clock)
    threads = RunThreads(CHANNEL, channel, pacer, storage.threads, "", clock, pause=2.0)
    policy = RetryPolicy(initial=2.0, maximum=10.0, max_age=3600.0)
    worker = ChannelWorker(
        CHANNEL,
        channel,
        pacer,
        storage.store,
        storage.pace,
        Composer(templates, metrics),
        policy,
        metrics,
        Redactor([]),
        1,
        IntakePriority(clock),
        clock,
        threads,
    )
    return worker, threads


@pytest.fixture
async def rig(
    clock: FakeClock, storage: Storage, rate_limit: RateLimit | None, edit_takes: float, templates: TemplateSet
) -> AsyncIterator[Rig]:
    channel = ThreadingChannel(clock, edit_takes)
    worker, threads = make_worker(clock, storage, channel, rate_limit, templates)
    running = asyncio.create_task(worker.run())
    yield Rig(clock, storage, channel, worker, threads)
    await worker.stop(0)
    await running


async def test_the_first_notification_posts_the_run_message_and_every_notification_is_a_reply_under_it(
    rig: Rig,
) -> None:
    await rig.accept(3)
    await rig.replies(3)
    await rig.edits_settle()
    (post,) = rig.channel.of("post")
    # the run message shows what the first notification said: the sequence was triggered in dev
    assert post.text.startswith("┏━ run message · run a8e4d2c6") and "dev 🔄 running" in post.text
    # the first notification is also the first reply, right after the run message: the thread has them all
    assert [r.kind for r in rig.channel.requests[:2]] == ["post", "reply"]
    assert rig.channel.reply_titles() == TITLES[:3]
    assert all(r.ref == PARENT for r in rig.channel.of("reply"))
    # edited after each reply that changed the run; the last edit shows the newest state
    edits = rig.channel.of("edit")
    assert edits and all(edit.ref == PARENT for edit in edits)
    assert "deployment running" in edits[-1].text


async def test_a_later_notification_of_a_run_never_overtakes_one_that_waits_for_its_retry(rig: Rig) -> None:
    rig.channel.scripts["reply"] = deque([SendResult.retry("server_error", "HTTP 500")] * 2)
    await rig.accept(4)
    await rig.replies(6)
    # the first reply failed twice and was retried after the backoff; nothing of the run went before it
    assert rig.channel.reply_titles() == [TITLES[0]] * 3 + TITLES[1:4]
    first_retry, second_retry = rig.channel.of("reply")[1:3]
    assert second_retry.at - first_retry.at >= 2.0
    assert len(rig.channel.of("post")) == 1


async def test_order_holds_when_the_run_message_itself_must_be_retried(rig: Rig) -> None:
    rig.channel.scripts["post"] = deque([SendResult.retry("rate_limited", "HTTP 429", retry_after=30)])
    await rig.accept(3)
    await rig.replies(3)
    assert [r.kind for r in rig.channel.requests[:3]] == ["post", "post", "reply"]
    assert rig.channel.requests[1].at - rig.channel.requests[0].at >= 30
    assert rig.channel.reply_titles() == TITLES[:3]


@pytest.mark.parametrize("edit_takes", [5.0])
@pytest.mark.parametrize("rate_limit", [RateLimit(per_second=1, burst=1)])
async def test_edits_are_coalesced_one_in_flight_and_the_newest_state_wins(rig: Rig) -> None:
    await rig.accept(6)
    await rig.replies(5)
    await rig.edits_settle()
    edits = rig.channel.of("edit")
    # five replies changed the run; while one edit was in flight the next states were folded into one
    assert 1 <= len(edits) < 5
    assert rig.channel.most_edits_in_flight == 1
    assert "deployment passed, test running" in edits[-1].text
    # paced with the channel: never two requests within the rate's second
    times = [request.at for request in rig.channel.requests]
    assert all(later - earlier >= 1.0 - 1e-9 for earlier, later in itertools.pairwise(times))


@pytest.mark.parametrize("edit_takes", [0.6])
@pytest.mark.parametrize("rate_limit", [SLACK_PACE])
async def test_edits_yield_to_the_replies_queued_so_a_burst_costs_one_edit_with_the_newest_state(rig: Rig) -> None:
    await rig.accept(10)
    await rig.replies(10)
    await rig.edits_settle()
    # nine replies changed the run while the next ones waited for the pacer: no edit went between them, one after
    (edit,) = rig.channel.of("edit")
    assert rig.channel.requests[-1] is edit
    assert newest_shown(edit, 10), edit.text


@pytest.mark.parametrize("rate_limit", [RateLimit(per_second=1, burst=1)])
async def test_an_edit_yields_to_a_backlog_for_max_edit_yield_at_most(rig: Rig) -> None:
    await rig.accept(30)
    await rig.replies(30)
    await rig.edits_settle()
    replies, edits = rig.channel.of("reply"), rig.channel.of("edit")
    # the replies went one a second for 29 s; the run message moved on meanwhile, once per MAX_EDIT_YIELD and
    # the pacer's second, and the last edit shows the whole run
    assert replies[-1].at - replies[0].at >= 29
    during = [edit for edit in edits if edit.at < replies[-1].at]
    assert len(during) == 2, [edit.at - replies[0].at for edit in edits]
    waited = [later.at - earlier.at for earlier, later in itertools.pairwise([replies[1], *during])]
    assert all(MAX_EDIT_YIELD <= wait <= MAX_EDIT_YIELD + 2 for wait in waited), waited
    assert len(edits) == 3 and newest_shown(edits[-1], 30)


async def test_an_edit_does_not_wait_for_a_reply_that_waits_for_its_retry(rig: Rig) -> None:
    ok = SendResult.sent(ref=MessageRef("C1", "r"))
    rig.channel.scripts["reply"] = deque([ok, ok, SendResult.retry("server_error", "HTTP 500")])
    await rig.accept(3)
    await rig.replies(4)
    await rig.edits_settle()
    kinds = [request.kind for request in rig.channel.requests]
    # the second reply changed the run; its edit went while the third waited out its backoff, not after it
    assert kinds == ["post", "reply", "reply", "reply", "edit", "reply", "edit"], kinds
    assert newest_shown(rig.channel.of("edit")[0], 2) and newest_shown(rig.channel.of("edit")[1], 3)


async def test_a_run_message_that_is_gone_on_edit_is_posted_anew_with_the_newest_state(rig: Rig) -> None:
    rig.channel.scripts["edit"] = deque([dataclasses.replace(SendResult.dead("message_not_found", ""), gone=True)])
    await rig.accept(2)
    await rig.replies(2)
    await rig.edits_settle()
    _, again = rig.channel.of("post")
    assert "deployment waiting" in again.text
    await rig.accept(3)
    await rig.replies(3)
    # the thread continues under the new run message (the fake numbers its messages: the run message and the
    # two replies, 1 to 3, went before)
    assert rig.channel.of("reply")[-1].ref == MessageRef("C1", "4.0")


async def test_a_reply_to_a_deleted_run_message_starts_a_new_one_and_is_not_dead(rig: Rig) -> None:
    rig.channel.scripts["reply"] = deque(
        [
            SendResult.sent(ref=MessageRef("C1", "r")),
            SendResult.sent(ref=MessageRef("C1", "r")),
            dataclasses.replace(SendResult.dead("thread_not_found"), gone=True),
        ]
    )
    await rig.accept(3)
    await rig.replies(4)
    kinds = [r.kind for r in rig.channel.requests if r.kind != "edit"]
    assert kinds == ["post", "reply", "reply", "reply", "post", "reply"]
    # the new run message shows the notification that found the old one gone, and that notification is its
    # first reply (the fake numbered the first run message 1 and the new one 2)
    assert "deployment running" in rig.channel.of("post")[1].text
    last = rig.channel.of("reply")[-1]
    assert last.ref == MessageRef("C1", "2.0") and TITLES[2] in last.text
    assert await rig.storage.store.dead_letters() == []


async def test_a_new_worker_on_the_same_store_continues_the_thread(
    rig: Rig, clock: FakeClock, storage: Storage, templates: TemplateSet
) -> None:
    await rig.accept(1)
    await clock.run_until(lambda: len(rig.channel.of("reply")) == 1)
    await rig.worker.stop(0)
    channel = ThreadingChannel(clock)
    worker, _ = make_worker(clock, storage, channel, None, templates)
    running = asyncio.create_task(worker.run())
    try:
        await rig.accept(2)
        await clock.run_until(lambda: len(channel.of("reply")) == 1)
    finally:
        await worker.stop(0)
        await running
    assert channel.of("post") == [] and channel.of("reply")[0].ref == PARENT


async def test_after_thread_max_age_a_run_starts_a_new_run_message(rig: Rig, clock: FakeClock) -> None:
    await rig.accept(1)
    await rig.replies(1)
    await clock.advance(3601)
    await rig.accept(2)
    await rig.replies(2)
    await rig.edits_settle()
    # nothing more goes under the old run message (1; its first reply was 2): all after the new one (3) is in it
    _, new = rig.channel.of("post")
    later = rig.channel.requests[rig.channel.requests.index(new) + 1 :]
    assert later and all(r.ref == MessageRef("C1", "3.0") for r in later)


async def test_a_run_thread_the_store_cannot_read_is_retried_as_the_stores_failure_not_a_bug(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    read = rig.storage.threads.get
    failures = [StoreError("cannot read a run's thread: NATS NoRespondersError: nats: no responders")]

    async def away_once(channel: str, context: str) -> RunThread | None:
        if failures:
            raise failures.pop()
        return await read(channel, context)

    # What a NATS store answers while its server restarts.
    monkeypatch.setattr(rig.storage.threads, "get", away_once)
    with caplog.at_level(logging.WARNING, "notifier.delivery"):
        await rig.accept(1)
        await rig.replies(1)
    (retried,) = [record.getMessage() for record in caplog.records if "retrying" in record.getMessage()]
    assert retried.startswith(f"channel {CHANNEL}: store_unavailable, retrying notification"), retried
    assert len(rig.channel.of("post")) == 1 and rig.channel.reply_titles() == TITLES[:1]


async def test_a_threaded_delivery_reads_its_event_once_and_asks_the_store_only_what_it_must(
    clock: FakeClock, storage: Storage, templates: TemplateSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per delivery: the stored event parsed once (the template and the thread share it), the run's thread read
    once, and written only when a run message was posted or the run's state changed."""
    parsed: list[bytes] = []
    calls: list[str] = []
    read = events_module.load_event
    get, put = storage.threads.get, storage.threads.put

    def counting_load(body: bytes) -> Any:
        parsed.append(body)
        return read(body)

    async def counting_get(channel: str, context: str) -> RunThread | None:
        calls.append("get")
        return await get(channel, context)

    async def counting_put(channel: str, context: str, thread: RunThread) -> None:
        calls.append("put")
        await put(channel, context, thread)

    monkeypatch.setattr(events_module, "load_event", counting_load)
    monkeypatch.setattr(storage.threads, "get", counting_get)
    monkeypatch.setattr(storage.threads, "put", counting_put)
    channel = ThreadingChannel(clock)
    worker, threads = make_worker(clock, storage, channel, None, templates)
    running = asyncio.create_task(worker.run())
    rig = Rig(clock, storage, channel, worker, threads)
    try:
        await rig.accept(3)
        await rig.replies(3)
        # The first event again, as a new event: the same state, so nothing to write.
        first = FILES[0].read_bytes()
        await storage.store.accept([Incoming("again", "t", "a8e4d2c6-1f3b-4e5a-8c7d-9b0e2f4a6c18", first, THREADED)])
        worker.wake()
        await rig.replies(4)
    finally:
        await worker.stop(0)
        await running
    assert len(parsed) == 4
    # 1: get, the run message posted (put), its state as saved; 2 and 3: get, a changed state (put); 4: get only
    assert calls == ["get", "put", "get", "put", "get", "put", "get"]
