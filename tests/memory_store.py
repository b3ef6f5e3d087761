"""A test double of the backend: the outbox and its ports in the process, every operation done at once.

It keeps the contract (tests/store/test_contract.py runs the same suite against it and the real backends), so that
unit tests of the workers, the threads and the pipeline run on a fake clock in milliseconds; only durability is
missing. The service never uses it.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

from notifier.clock import Clock
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
    Update,
)

# The same bounds as the SQLite store's, so that both forget alike.
FORGET_INTERVAL = 60.0
FORGET_BATCH = 5000
MEMO_MAX_AGE = 7 * 86400.0


@dataclass(slots=True)
class _Event:
    seq: int
    received: float
    type: str
    context: str
    body: bytes
    notifications: list[_Notification] = field(default_factory=list)


@dataclass(slots=True)
class _Notification:
    number: int
    event: _Event
    channel: str
    route: str
    template: str | None
    created: float
    next_at: float
    order: str = ""
    group: str = ""
    broadcast: bool = False
    note: str = ""
    state: str = "pending"
    attempts: int = 0
    done_at: float | None = None
    reason: str = ""
    lease_until: float = 0.0
    claims: int = 0
    # The group's notification whose claim this one's follows (0: none).
    lead: int = 0

    @property
    def id(self) -> NotificationId:
        return str(self.number)


class MemoryStore:
    def __init__(self, clock: Clock, retention: Retention) -> None:
        self._clock = clock
        self._retention = retention
        self._open = False
        # By key, in the order accepted (which is the order of `seq`).
        self._events: dict[str, _Event] = {}
        self._notifications: dict[NotificationId, _Notification] = {}
        self._pending: dict[str, dict[NotificationId, _Notification]] = {}
        self._numbers = itertools.count(1)
        self._last_forget = -math.inf
        self._memos: dict[str, tuple[bytes, float]] = {}

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False

    def _check_open(self) -> None:
        if not self._open:
            raise StoreError("the store is closed")

    async def accept(self, items: Sequence[Incoming]) -> list[Accepted]:
        self._check_open()
        now = self._clock.time()
        if now - self._last_forget >= FORGET_INTERVAL:
            self._last_forget = now
            self.forget_old(now, self._retention.window, self._retention.max_entries)
        outcomes = []
        for item in items:
            if item.key in self._events:
                outcomes.append(Accepted(False))
                continue
            event = self._events[item.key] = _Event(next(self._numbers), now, item.type, item.context, item.body)
            stored = tuple(self._decided(outgoing, now) for outgoing in item.notifications)
            for o in stored:
                if o is not None:
                    self._add(
                        _Notification(
                            next(self._numbers),
                            event,
                            o.channel,
                            o.route,
                            o.template,
                            now,
                            o.due or now,
                            o.order,
                            o.group,
                            o.broadcast,
                            o.note,
                        )
                    )
            outcomes.append(Accepted(True, stored))
        return outcomes

    def _decided(self, outgoing: Outgoing, now: float) -> Outgoing | None:
        if outgoing.decide is None:
            return outgoing
        kept = self._memos.get(outgoing.memo)
        document, stored = outgoing.decide(None if kept is None else kept[0], now)
        if document is not None:
            self._memos[outgoing.memo] = (document, now)
        return stored

    def _add(self, notification: _Notification) -> None:
        notification.event.notifications.append(notification)
        self._notifications[notification.id] = notification
        self._pending.setdefault(notification.channel, {})[notification.id] = notification

    async def claim(self, channel: str, limit: int, lease: float) -> list[Pending]:
        self._check_open()
        now = self._clock.time()
        due = sorted(
            (n for n in self._claimable(channel, now) if n.next_at <= now and n.lease_until <= now),
            key=lambda n: (n.next_at, n.number),
        )[:limit]
        claimed = []
        for n in due:
            n.lease_until = now + lease
            n.claims += 1
            members: tuple[Member, ...] = ()
            if n.group:
                group = self._due_of_group(channel, n.group, now)
                for other in group:
                    if other is not n:
                        other.lease_until, other.lead = n.lease_until, n.number
                members = tuple(
                    Member(other.event.body, other.note) for other in [n, *(g for g in group if g is not n)]
                )
            claimed.append(
                Pending(
                    Claim(n.id, str(n.claims), n.lease_until),
                    str(n.event.seq),
                    n.channel,
                    n.route,
                    n.template,
                    n.attempts,
                    n.created,
                    n.event.body,
                    n.event.context,
                    n.order,
                    n.broadcast,
                    n.note,
                    members,
                )
            )
        return claimed

    def _due_of_group(self, channel: str, group: str, now: float) -> list[_Notification]:
        return sorted(
            (
                n
                for n in self._pending.get(channel, {}).values()
                if n.group == group and n.next_at <= now and n.lease_until <= now
            ),
            key=lambda n: n.number,
        )

    def _claimable(self, channel: str, now: float) -> list[_Notification]:
        """The channel's pending notifications but those that wait behind their order key's oldest, and only the
        oldest due one of each group (it stands for the group)."""
        heads: dict[str, _Notification] = {}
        leaders: dict[str, _Notification] = {}
        free = []
        for n in self._pending.get(channel, {}).values():
            if n.order:
                if n.order not in heads or n.number < heads[n.order].number:
                    heads[n.order] = n
            elif n.group:
                due = n.next_at <= now and n.lease_until <= now
                if due and (n.group not in leaders or n.number < leaders[n.group].number):
                    leaders[n.group] = n
            else:
                free.append(n)
        return free + list(heads.values()) + list(leaders.values())

    async def next_due(self, channel: str) -> float | None:
        self._check_open()
        waiting = [n for n in self._pending.get(channel, {}).values() if not n.order]
        heads: dict[str, _Notification] = {}
        for n in self._pending.get(channel, {}).values():
            if n.order and (n.order not in heads or n.number < heads[n.order].number):
                heads[n.order] = n
        return min((max(n.next_at, n.lease_until) for n in [*waiting, *heads.values()]), default=None)

    async def finish(self, updates: Sequence[Update]) -> None:
        self._check_open()
        for update in updates:
            n = self._notifications.get(update.claim.id)
            if n is None or n.state != "pending" or str(n.claims) != update.claim.token:
                continue  # finished already, or claimed again by someone else since
            followers = [m for m in self._pending.get(n.channel, {}).values() if m.lead == n.number and m is not n]
            for one in [n, *followers]:
                self._record(one, update)

    def _record(self, n: _Notification, update: Update) -> None:
        n.lease_until = 0.0
        if isinstance(update, Release):
            return
        n.attempts += 1
        if isinstance(update, Retry):
            n.next_at, n.reason = update.next_at, update.reason
            return
        del self._pending[n.channel][n.id]
        if isinstance(update, Sent):
            n.state, n.done_at, n.reason = "sent", update.at, update.detail
        else:
            assert isinstance(update, Dead)
            n.state, n.done_at, n.reason = "dead", update.at, update.reason

    async def stats(self) -> dict[str, ChannelStats]:
        self._check_open()
        return {
            channel: ChannelStats(len(waiting), min(n.created for n in waiting.values()))
            for channel, waiting in self._pending.items()
            if waiting
        }

    async def dead_letters(self) -> list[DeadLetter]:
        self._check_open()
        dead = sorted(self._dead(), key=lambda n: (n.done_at or 0.0, n.number))
        return [
            DeadLetter(n.id, n.channel, n.route, n.event.type, n.event.body, n.reason, n.attempts, n.created, n.done_at)
            for n in dead
            if n.done_at is not None
        ]

    async def retry_dead(self, ids: Collection[NotificationId] | None) -> int:
        self._check_open()
        now = self._clock.time()
        wanted = None if ids is None else set(ids)
        count = 0
        for n in list(self._dead()):
            if wanted is None or n.id in wanted:
                n.state, n.next_at, n.attempts, n.created, n.done_at = "pending", now, 0, now, None
                n.lease_until, n.lead = 0.0, 0
                self._pending.setdefault(n.channel, {})[n.id] = n
                count += 1
        return count

    async def purge_dead(self, older_than: float) -> int:
        self._check_open()
        cutoff = self._clock.time() - older_than
        doomed = [n for n in self._dead() if n.done_at is not None and n.done_at < cutoff]
        for n in doomed:
            del self._notifications[n.id]
            n.event.notifications.remove(n)
        return len(doomed)

    def forget_old(self, now: float, window: float, max_entries: int) -> int:
        """Forget events past the window, or the oldest beyond the bound, whose notifications are all sent."""
        self._memos = {key: kept for key, kept in self._memos.items() if kept[1] >= now - MEMO_MAX_AGE}
        forgettable = [
            (key, event) for key, event in self._events.items() if all(n.state == "sent" for n in event.notifications)
        ]
        over = max(0, len(self._events) - max_entries)
        oldest = {key for key, _ in forgettable[:over]}
        doomed = [key for key, event in forgettable if event.received < now - window or key in oldest]
        for key in doomed[:FORGET_BATCH]:
            for n in self._events.pop(key).notifications:
                del self._notifications[n.id]
        return min(len(doomed), FORGET_BATCH)

    async def health(self) -> Health:
        return Health() if self._open else Health("the state store is closed")

    def _dead(self) -> list[_Notification]:
        return [n for n in self._notifications.values() if n.state == "dead"]


class MemoryRunThreads:
    def __init__(self, clock: Clock, max_age: float) -> None:
        self._clock = clock
        self._max_age = max_age
        self._threads: dict[tuple[str, str], RunThread] = {}

    async def get(self, channel: str, context: str) -> RunThread | None:
        found = self._threads.get((channel, context))
        if found is None or found.started < self._clock.time() - self._max_age:
            return None
        return found

    async def put(self, channel: str, context: str, thread: RunThread) -> None:
        expired = self._clock.time() - self._max_age
        self._threads = {key: kept for key, kept in self._threads.items() if kept.started >= expired}
        self._threads[(channel, context)] = thread


class MemorySilences:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._silences: dict[str, SilenceRecord] = {}
        self._counts: dict[str, Counter[tuple[str, str]]] = {}

    async def put(self, silence: SilenceRecord) -> None:
        self._silences[silence.id] = silence

    async def silences(self) -> list[SilenceRecord]:
        forgotten = self._clock.time() - SILENCE_KEPT
        for old in [one for one in self._silences.values() if one.ends < forgotten]:
            del self._silences[old.id]
            self._counts.pop(old.id, None)
        return sorted(self._silences.values(), key=lambda one: (one.starts, one.id))

    async def expire(self, silence: str, at: float) -> SilenceRecord | None:
        found = self._silences.get(silence)
        if found is not None and found.ends > at:
            found = self._silences[silence] = replace(found, starts=min(found.starts, at), ends=at)
        return found

    async def count(self, silence: str, channel: str, kind: str) -> None:
        self._counts.setdefault(silence, Counter())[channel, kind] += 1

    async def muted(self, silence: str) -> list[MutedCount]:
        counted = self._counts.get(silence, Counter())
        return [MutedCount(channel, kind, number) for (channel, kind), number in sorted(counted.items())]

    async def summarised(self, silence: str) -> None:
        if silence in self._silences:
            self._silences[silence] = replace(self._silences[silence], summarised=True)


def memory_storage(clock: Clock, retention: Retention, thread_max_age: float = 14 * 86400.0) -> Storage:
    return Storage(
        MemoryStore(clock, retention), MemoryRunThreads(clock, thread_max_age), LocalPace(clock), MemorySilences(clock)
    )
