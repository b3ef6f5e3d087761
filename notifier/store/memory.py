"""A store that lives and dies with the process: for unit tests, and wherever nothing needs to outlive a run.

It keeps the same contract as the SQLite store (tests/test_store_contract.py runs against both), with every
operation done at once on the event loop; only durability is missing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from notifier.clock import Clock
from notifier.message_ref import MessageRef
from notifier.store.pauses import LocalPauses
from notifier.store.protocol import (
    DIGEST_TYPE,
    ChannelStats,
    Claim,
    Dead,
    DeadLetter,
    Destination,
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
    Update,
)

# The same bounds as the SQLite store's, so that both forget alike.
FORGET_INTERVAL = 60.0
FORGET_BATCH = 5000


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
    state: str = "pending"
    attempts: int = 0
    done_at: float | None = None
    reason: str = ""
    lease_until: float = 0.0
    claims: int = 0
    ref: MessageRef | None = None
    # Noise control: why it is held ('' when it is not), and the hold words of a digest.
    held: str = ""
    digest: str = ""
    # The run (context) of a threaded notification, "" for one that is not.
    run: str = ""
    broadcast: bool = False

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
        self._pauses = LocalPauses()
        # Noise control's memory: the digest window per (route, channel), the last send per (route, channel, key).
        self._windows: dict[tuple[str, str], bytes] = {}
        self._repeats: dict[tuple[str, str, str], tuple[float, float]] = {}
        self._threads: dict[tuple[str, str], RunThread] = {}

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False

    def _check_open(self) -> None:
        if not self._open:
            raise StoreError("the store is closed")

    async def accept(self, items: Sequence[Incoming]) -> list[bool]:
        self._check_open()
        now = self._clock.time()
        if now - self._last_forget >= FORGET_INTERVAL:
            self._last_forget = now
            self.forget_old(now, self._retention.window, self._retention.max_entries)
        fresh = []
        for item in items:
            if item.key in self._events:
                fresh.append(False)
                continue
            event = self._events[item.key] = _Event(next(self._numbers), now, item.type, item.context, item.body)
            for destination in item.destinations:
                verdict = None if destination.noise is None else self._decide_noise(destination, destination.noise, now)
                if verdict is not None and not verdict.keep:
                    continue
                notification = _Notification(
                    next(self._numbers),
                    event,
                    destination.channel,
                    destination.route,
                    destination.template,
                    now,
                    now,
                    run=item.context if destination.threaded else "",
                    broadcast=destination.broadcast,
                )
                if verdict is not None and verdict.held:
                    # Held for a digest: never threaded, so that it does not hold up its run.
                    notification.held, notification.next_at = verdict.held, verdict.held_until
                    notification.run, notification.broadcast = "", False
                self._add(notification)
            fresh.append(True)
        return fresh

    def _add(self, notification: _Notification) -> None:
        notification.event.notifications.append(notification)
        self._notifications[notification.id] = notification
        self._pending.setdefault(notification.channel, {})[notification.id] = notification

    def _decide_noise(self, destination: Destination, noise: Noise, now: float) -> NoiseVerdict:
        place = (destination.route, destination.channel)
        repeat = None if noise.key is None else self._repeats.get((*place, noise.key))
        verdict = noise.decide(now, None if repeat is None else repeat[0], self._windows.get(place))
        if verdict.window is not None:
            self._windows[place] = verdict.window
        if noise.key is not None and verdict.sent_until is not None:
            self._repeats[(*place, noise.key)] = (now, verdict.sent_until)
        noise.applied = verdict
        return verdict

    def _fold_held(self, channel: str, now: float) -> None:
        """Replace the channel's due held notifications, per route and due time, by one pending digest each."""
        groups: dict[tuple[str, float], list[_Notification]] = {}
        for n in self._pending.get(channel, {}).values():
            if n.held and n.next_at <= now:
                groups.setdefault((n.route, n.next_at), []).append(n)
        for (route, _), held in groups.items():
            held.sort(key=lambda n: n.number)
            body = b"[" + b",".join(n.event.body for n in held) + b"]"
            event = _Event(next(self._numbers), now, DIGEST_TYPE, "", body)
            self._events[f"\x1fdigest\x1f{channel}\x1f{held[0].id}"] = event
            digest = _Notification(next(self._numbers), event, channel, route, held[0].template, now, now)
            digest.digest = ",".join(sorted({n.held for n in held}))
            self._add(digest)
            for n in held:
                del self._notifications[n.id]
                del self._pending[channel][n.id]
                n.event.notifications.remove(n)

    async def claim(self, channel: str, limit: int, lease: float) -> list[Pending]:
        self._check_open()
        now = self._clock.time()
        self._fold_held(channel, now)
        due = sorted(
            (n for n in self._claimable(channel) if not n.held and n.next_at <= now and n.lease_until <= now),
            key=lambda n: (n.next_at, n.number),
        )[:limit]
        claimed = []
        for n in due:
            n.lease_until = now + lease
            n.claims += 1
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
                    bool(n.run),
                    n.broadcast,
                    n.digest,
                )
            )
        return claimed

    def _claimable(self, channel: str) -> list[_Notification]:
        """Every pending notification of the channel but those of a run that wait behind its oldest one."""
        heads: dict[str, _Notification] = {}
        free = []
        for n in self._pending.get(channel, {}).values():
            if not n.run:
                free.append(n)
            elif n.run not in heads or n.number < heads[n.run].number:
                heads[n.run] = n
        return free + list(heads.values())

    async def next_due(self, channel: str) -> float | None:
        self._check_open()
        return min((max(n.next_at, n.lease_until) for n in self._claimable(channel)), default=None)

    async def run_thread(self, channel: str, context: str) -> RunThread | None:
        self._check_open()
        found = self._threads.get((channel, context))
        if found is None or found.started < self._clock.time() - self._retention.thread_max_age:
            return None
        return found

    async def save_run_thread(self, channel: str, context: str, thread: RunThread) -> None:
        self._check_open()
        self._threads[(channel, context)] = thread

    async def finish(self, updates: Sequence[Update]) -> None:
        self._check_open()
        for update in updates:
            n = self._notifications.get(update.claim.id)
            if n is None or n.state != "pending" or str(n.claims) != update.claim.token:
                continue  # finished already, or claimed again by someone else since
            n.lease_until = 0.0
            if isinstance(update, Release):
                continue
            n.attempts += 1
            if isinstance(update, Retry):
                n.next_at, n.reason = update.next_at, update.reason
                continue
            del self._pending[n.channel][n.id]
            if isinstance(update, Sent):
                n.state, n.done_at, n.reason, n.ref = "sent", update.at, update.detail, update.ref
            else:
                assert isinstance(update, Dead)
                n.state, n.done_at, n.reason = "dead", update.at, update.reason

    async def message_ref(self, notification: NotificationId) -> MessageRef | None:
        self._check_open()
        found = self._notifications.get(notification)
        return None if found is None else found.ref

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
                n.state, n.next_at, n.attempts, n.created, n.done_at, n.lease_until = "pending", now, 0, now, None, 0.0
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
        expired = now - self._retention.thread_max_age
        self._threads = {key: thread for key, thread in self._threads.items() if thread.started >= expired}
        forgettable = [
            (key, event) for key, event in self._events.items() if all(n.state == "sent" for n in event.notifications)
        ]
        over = max(0, len(self._events) - max_entries)
        oldest = {key for key, _ in forgettable[:over]}
        doomed = [key for key, event in forgettable if event.received < now - window or key in oldest]
        for key in doomed[:FORGET_BATCH]:
            for n in self._events.pop(key).notifications:
                del self._notifications[n.id]
        for place, (_, until) in list(self._repeats.items()):
            if until < now:
                del self._repeats[place]
        return min(len(doomed), FORGET_BATCH)

    async def channel_pause(self, channel: str, until: float = 0.0) -> float:
        return self._pauses.extend(channel, until)

    async def channel_slot(self, channel: str, interval: float, burst: int) -> float:
        return self._clock.time()

    async def health(self) -> Health:
        return Health() if self._open else Health("the state store is closed")

    def _dead(self) -> list[_Notification]:
        return [n for n in self._notifications.values() if n.state == "dead"]
