"""The store's contract: a durable outbox, and small ports for the state replicas share.

`Store` is the outbox: accept events with their notifications (deduplicated, durably), claim them with leases,
finish them, keep the dead letters. What several replicas share besides (noise control's memory, the runs'
threads, a channel's pace, the silences) goes through ports of its own, each kept by the same backend. A store
decides nothing: it keeps what it is given and hands it back. Whatever decides (noise/, runs/, delivery/,
silences/) lives above it and gives the store plain values, or, for a decision that must be made in accept's
transaction, a function of the document it keeps (`Outgoing.decide`).

This module imports no implementation and no library: a new backend is written against it alone
(tests/store/test_contract.py checks it and runs one suite against every backend).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from notifier.message import MessageRef

# Opaque to callers: compare, print and pass back, never parse.
NotificationId = str


# -- accepting ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One notification to store with its event: where it goes, and when and how it may be claimed."""

    channel: str
    route: str
    # None: chosen by the event's type when it is rendered.
    template: str | None
    # Not claimable before this (wall seconds); 0 for at once.
    due: float = 0.0
    # Non-empty: of the channel's pending notifications with this key only the oldest is claimable, so they leave
    # one at a time in the order accepted, a retry holding its followers back.
    order: str = ""
    # Non-empty: claimed together with the channel's other due notifications of this key, as one (see `Pending`).
    group: str = ""
    # Kept and handed back as given.
    broadcast: bool = False
    note: str = ""
    # Non-empty with `decide`: the key of the document `decide` reads and writes (shared by every replica).
    memo: str = ""
    decide: Decide | None = None


# Called by the store inside accept's transaction, once the event is known to be new, with the document kept
# under `Outgoing.memo` (None when there is none) and the store's time. Returns the document to keep (None: keep
# it as it is) and the notification to store (None: nothing is stored). A backend without transactions calls it
# again on what another writer wrote, until its compare-and-set holds: it must be a pure function.
Decide = Callable[[bytes | None, float], tuple[bytes | None, Outgoing | None]]


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event to accept, with the notifications to make of it."""

    # The same key again is a duplicate (for CloudEvents: source and id).
    key: str
    type: str
    # The event's shkeptncontext, so that log lines about its notifications can name the Keptn run.
    context: str
    body: bytes
    notifications: Sequence[Outgoing]


@dataclass(frozen=True, slots=True)
class Accepted:
    """What became of one event: new (with what was stored of each notification, None where `decide` stored
    nothing), or a duplicate (nothing stored)."""

    new: bool
    stored: tuple[Outgoing | None, ...] = ()


# -- claiming and finishing ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """The right to finish one notification (or one group), held until `until` (wall seconds) unless finished."""

    id: NotificationId
    # Tells this claim from a later one on the same notification, whose holder alone may then finish it.
    token: str
    until: float


@dataclass(frozen=True, slots=True)
class Member:
    """One notification of a claimed group: its event and its note."""

    body: bytes
    note: str


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
    # `Outgoing.order`, `broadcast` and `note` as accepted.
    order: str = ""
    broadcast: bool = False
    note: str = ""
    # A group's notifications, this one first, when it was accepted with a `group`: one claim for them all, and
    # its outcome is theirs (a dead group is one dead letter per notification, and comes back as a group).
    members: tuple[Member, ...] = ()

    @property
    def id(self) -> NotificationId:
        return self.claim.id


@dataclass(frozen=True, slots=True)
class Sent:
    claim: Claim
    at: float
    # The platform's answer in words, for people.
    detail: str = ""


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
    """How long an accepted event's key is remembered for dedup, and how many keys at most."""

    window: float
    max_entries: int


class Store(Protocol):
    """The outbox. Dedup memory is kept within the window and size the backend was built with, as it accepts;
    an event with notifications not yet sent is never forgotten."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def accept(self, items: Sequence[Incoming]) -> list[Accepted]:
        """Store each event with its notifications, durably, in the order given; a key already seen is a duplicate.

        A notification with `decide` is stored as `decide` says, in the same transaction as the document it
        reads and writes, so two events at once never decide on the same document state.
        """
        ...

    async def claim(self, channel: str, limit: int, lease: float) -> list[Pending]:
        """Claim up to `limit` of the channel's due notifications for `lease` seconds, oldest due first.

        A claimed notification is nobody else's until its claim is finished or its lease runs out. Of the
        notifications of one `order` key only the oldest pending one is ever handed out, due or not: a later one
        never overtakes it. The due notifications of one `group` are handed out together, as one.
        """
        ...

    async def next_due(self, channel: str) -> float | None:
        """When the channel's next notification may be claimed (a retry's time, a lease's end), None if none."""
        ...

    async def finish(self, updates: Sequence[Update]) -> None:
        """Record outcomes, ending their claims. An update for a claim that is no longer held changes nothing."""
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


# -- the ports of shared state -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunThread:
    """One Keptn run's thread in one channel: its run message, and the run's state as last recorded there."""

    ref: MessageRef
    # The run state document (notifier.runs.state.RunState.to_json); opaque to the store.
    state: bytes
    # When the run message was posted: the entry is forgotten the backend's maximum age later.
    started: float


class RunThreadStore(Protocol):
    """Each run's thread per channel, shared by replicas, so a restart or another replica continues it."""

    async def get(self, channel: str, context: str) -> RunThread | None:
        """The run's thread in the channel; None if there is none, or it is older than the maximum age."""
        ...

    async def put(self, channel: str, context: str, thread: RunThread) -> None:
        """Record (or replace) the run's thread, durably enough to survive the process."""
        ...


class ChannelPace(Protocol):
    """A channel's pause and rate, kept together by every consumer of the store: the platforms' limits are per
    channel, not per sender. A backend of one process keeps them in memory and grants every slot at once."""

    async def pause(self, channel: str, until: float = 0.0) -> float:
        """Extend the channel's pause to at least `until` (wall seconds; 0 only reads it); returns its end now."""
        ...

    async def slot(self, channel: str, interval: float, burst: int) -> float:
        """Reserve the channel's next send at its rate (one per `interval`, `burst` at once); when it may go."""
        ...


# How long a silence is kept after it ended, to be listed (`silence list --expired`); then it is forgotten.
SILENCE_KEPT = 5 * 86400.0


@dataclass(frozen=True, slots=True)
class SilenceRecord:
    """A silence as the store keeps it: its matchers as written (`stage=production`), never parsed here."""

    id: str
    matchers: tuple[str, ...]
    # Wall seconds: it mutes from `starts` until just before `ends`.
    starts: float
    ends: float
    created_by: str
    comment: str
    # Added with --drop: no summary of what it muted.
    drop: bool = False
    # Its summary is in the outbox, or it needs none: nobody makes it again.
    summarised: bool = False


@dataclass(frozen=True, slots=True)
class MutedCount:
    """How many notifications of one kind (opaque to the store) a silence muted in one channel."""

    channel: str
    kind: str
    count: int


class SilenceStore(Protocol):
    """The silences every replica applies, and what each muted, shared by replicas and kept across restarts."""

    async def put(self, silence: SilenceRecord) -> None:
        """Record a silence, or replace the one with its id."""
        ...

    async def silences(self) -> list[SilenceRecord]:
        """Every silence, oldest start first; one that ended more than SILENCE_KEPT ago is forgotten, with its
        counts."""
        ...

    async def expire(self, silence: str, at: float) -> SilenceRecord | None:
        """End the silence at `at` (wall seconds) unless it ends sooner; the silence as it is now, None if unknown."""
        ...

    async def count(self, silence: str, channel: str, kind: str) -> None:
        """One more notification of `kind` muted by the silence in the channel."""
        ...

    async def muted(self, silence: str) -> list[MutedCount]:
        """What the silence muted, by channel and kind (nothing for an unknown silence)."""
        ...

    async def summarised(self, silence: str) -> None:
        """Mark the silence's summary as made (an unknown silence: nothing)."""
        ...


@dataclass(frozen=True, slots=True)
class Storage:
    """One backend's outbox and ports, sharing its connection: the outbox's `open` and `close` are theirs too."""

    store: Store
    threads: RunThreadStore
    pace: ChannelPace
    silences: SilenceStore


class StoreError(Exception):
    """The store cannot do what was asked; the text says what is wrong and what to do."""


class StoreMissing(StoreError):
    """A tool asked for an existing outbox (`must_exist`) and there is none: nothing ran there yet."""
