"""The store's contract: the outbox of notifications, the dedup memory and the dead letters.

This is all that the pipeline, the workers and the CLI know of a store, and nothing of how one is kept: ids are
opaque strings, times are the store clock's wall seconds, and claiming is the store's job, so that several
consumers (replicas on a shared store) can never hold the same notification. The module imports no
implementation and no library: a new store is written against it alone (tests/test_store_contract.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from notifier.message_ref import MessageRef

# Opaque to callers: compare, print and pass back, never parse.
NotificationId = str


# -- Noise control (repeat, digest, quiet hours): decided inside accept, with the memory the store keeps --------


@dataclass(frozen=True, slots=True)
class NoiseVerdict:
    """What the store does with one notification under noise control, and what it remembers for the next."""

    # False: suppressed as a repeat, nothing of it is stored.
    keep: bool
    # Non-empty: held (the word says why, opaque to the store) until `held_until`, then folded into one digest.
    held: str = ""
    held_until: float = 0.0
    # The (route, channel)'s digest window to remember from now on (opaque); None leaves it as it is.
    window: bytes | None = None
    # Not None: remember now as the last send of the repeat key, until then (when it can no longer suppress).
    sent_until: float | None = None


# The event type of a digest's stored event (dead letters show it); its body is the JSON array of held events.
DIGEST_TYPE = "sh.keptn.notifier.digest"

# Called by the store in accept's transaction: (now, the key's last send or None, the stored window or None).
NoiseDecide = Callable[[float, float | None, bytes | None], NoiseVerdict]


@dataclass(slots=True)
class Noise:
    """A destination's noise control: its repeat key (None: no repeats) and the decision to make with the memory."""

    key: str | None
    decide: NoiseDecide
    # Set by the store to the verdict it applied (stays None for a duplicate event): for metrics and logs.
    applied: NoiseVerdict | None = None


# -- the outbox --------------------------------------------------------------------------------------------------


class Destination(Protocol):
    """One notification to make of an event: a channel, the route that chose it, and its template (None: by type)."""

    @property
    def channel(self) -> str: ...
    @property
    def route(self) -> str: ...
    @property
    def template(self) -> str | None: ...
    @property
    def threaded(self) -> bool:
        """Sent in the order accepted within its run (`Incoming.context`) and channel: see `Store.claim`."""
        ...

    @property
    def broadcast(self) -> bool: ...

    @property
    def noise(self) -> Noise | None:
        """None for a route without noise control (the common case: the store does nothing more)."""
        ...


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event to accept, with the notifications to make of it."""

    # The same key again is a duplicate (for CloudEvents: source and id).
    key: str
    type: str
    # The event's shkeptncontext, so that log lines about its notifications can name the Keptn run.
    context: str
    body: bytes
    destinations: Sequence[Destination]


@dataclass(frozen=True, slots=True)
class Claim:
    """The right to finish one notification, held until `until` (wall seconds) unless finished before."""

    id: NotificationId
    # Tells this claim from a later one on the same notification, whose holder alone may then finish it.
    token: str
    until: float


@dataclass(frozen=True, slots=True)
class Pending:
    """A claimed notification waiting to be sent, with the event it is made from."""

    claim: Claim
    # The same for every notification of one event (what a render cache keys on); opaque like the ids.
    event: str
    channel: str
    route: str
    template: str | None
    attempts: int
    created: float
    body: bytes
    keptn_context: str
    # Into the thread of its run's run message, and shown in the channel too (Destination's fields).
    threaded: bool = False
    broadcast: bool = False
    # Non-empty: a digest of held notifications; `body` is then a JSON array of their events, in accepted order,
    # and this the distinct hold words of them, sorted and comma-separated.
    digest: str = ""

    @property
    def id(self) -> NotificationId:
        return self.claim.id


@dataclass(frozen=True, slots=True)
class Sent:
    claim: Claim
    at: float
    # The platform's answer in words, for people.
    detail: str = ""
    # What the platform created, for a later reply or replacement.
    ref: MessageRef | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    claim: Claim
    next_at: float
    reason: str


@dataclass(frozen=True, slots=True)
class Dead:
    claim: Claim
    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class Release:
    """Not sent, nothing to count: claimable again at once (a worker that stops gives back what it holds)."""

    claim: Claim


Update = Sent | Retry | Dead | Release


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: NotificationId
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


@dataclass(frozen=True, slots=True)
class Health:
    """None when the store takes writes; else why not, in words fit for /ready."""

    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True, slots=True)
class Retention:
    """How long an accepted event's key is remembered for dedup, and how many keys at most.

    A store keeps itself within these as it accepts; an event with notifications not yet sent is never forgotten.
    """

    window: float
    max_entries: int
    # How long a run's thread is continued (RunThread.started onwards); then the run starts a new run message.
    thread_max_age: float = 14 * 86400.0


@dataclass(frozen=True, slots=True)
class RunThread:
    """One Keptn run's thread in one channel: its run message, and the run's state as last recorded there."""

    ref: MessageRef
    # The run state document (notifier.runs.RunState.to_json); opaque to the store.
    state: bytes
    # When the run message was posted: the entry is forgotten `Retention.thread_max_age` later.
    started: float


class Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def accept(self, items: Sequence[Incoming]) -> list[bool]:
        """Store each event with its notifications, durably; False for a key already seen (a duplicate).

        A destination with `noise` is decided in the same transaction: the store calls `noise.decide` with the
        last send of (route, channel, key) and the window of (route, channel), stores what the verdict says to
        remember, and stores the notification (pending, held until its time) unless it is suppressed.
        """
        ...

    async def claim(self, channel: str, limit: int, lease: float) -> list[Pending]:
        """Claim up to `limit` of the channel's due notifications for `lease` seconds, oldest due first.

        A claimed notification is nobody else's until its claim is finished or its lease runs out. Held
        notifications of one route due at one time are first replaced, in one transaction, by one pending
        digest notification (`Pending.digest`) holding their events; a held one is never claimed itself, and
        never threaded. Of the `threaded` notifications of one run (context) in the channel only the oldest
        pending one is ever handed out, due or not: a later one never overtakes it, and never two of a run are
        in flight at once.
        """
        ...

    async def next_due(self, channel: str) -> float | None:
        """When the channel's next notification may be claimed (a retry's time, a lease's end), None if none."""
        ...

    async def run_thread(self, channel: str, context: str) -> RunThread | None:
        """The run's thread in the channel; None if there is none, or it is older than `thread_max_age`."""
        ...

    async def save_run_thread(self, channel: str, context: str, thread: RunThread) -> None:
        """Record (or replace) the run's thread in the channel, durably enough to survive the process."""
        ...

    async def finish(self, updates: Sequence[Update]) -> None:
        """Record outcomes, ending their claims. An update for a claim that is no longer held changes nothing."""
        ...

    async def message_ref(self, notification: NotificationId) -> MessageRef | None:
        """What the platform created for a sent notification (threads and edits start from it)."""
        ...

    async def stats(self) -> dict[str, ChannelStats]: ...
    async def dead_letters(self) -> list[DeadLetter]: ...

    async def retry_dead(self, ids: Collection[NotificationId] | None) -> int:
        """Queue dead letters again as new (all when `ids` is None); returns how many. Unknown ids count none."""
        ...

    async def purge_dead(self, older_than: float) -> int:
        """Delete dead letters that died more than `older_than` seconds ago; returns how many."""
        ...

    async def health(self) -> Health:
        """Whether the store takes writes right now (readiness and the store_writable metric)."""
        ...

    async def channel_pause(self, channel: str, until: float = 0.0) -> float:
        """Extend the channel's pause to at least `until` (wall seconds; 0 only reads it); returns its end now.

        Shared by every consumer of the store: a store of one process keeps it in memory, a shared store shares
        it, so that one replica's Retry-After (or backoff) makes every replica wait. A past time means no pause.
        """
        ...

    async def channel_slot(self, channel: str, interval: float, burst: int) -> float:
        """Reserve the channel's next send at its rate (one per `interval`, `burst` at once); returns when it may go.

        A store of one process grants it at once (the worker's own pacer paces it); a shared store reserves it
        among every consumer, so that all replicas together keep to the rate (wall seconds).
        """
        ...


class StoreError(Exception):
    """The store cannot do what was asked; the text says what is wrong and what to do."""


class StoreMissing(StoreError):
    """A tool asked for an existing outbox (`must_exist`) and there is none: nothing ran there yet."""
