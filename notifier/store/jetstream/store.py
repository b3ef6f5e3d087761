"""The shared backend: the outbox, its dedup memory and dead letters, and the ports replicas share, in NATS
JetStream, on one connection.

The outbox is a work-queue stream with one subject per channel and order key (or group), and one durable pull
consumer per channel. Each concern is a module of its own: `connection.py` (the connection, start-up through
`startup.py` on the names of `layout.py`, sizes from `sizes.py`, health), `accept.py` (dedup and publishing),
`claims.py` (claims, order, groups, next_due) with `deliveries.py` (what a store holds and keeps, and the timer
that tends them), `finish.py` (outcomes), `dead.py` (dead letters), `shared.py` (the runs' threads, a
channel's pace, and the documents `decide` keeps) and `silences.py` (the silences and their counts); messages are
written as `messages.py` says.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from nats.js.errors import NotFoundError

from notifier.clock import Clock
from notifier.store.jetstream.accept import Acceptor
from notifier.store.jetstream.claims import Claimer
from notifier.store.jetstream.connection import Link, talking
from notifier.store.jetstream.dead import DeadLetters
from notifier.store.jetstream.deliveries import Deliveries
from notifier.store.jetstream.finish import Finisher
from notifier.store.jetstream.layout import Layout
from notifier.store.jetstream.messages import decode
from notifier.store.jetstream.shared import JetStreamPace, JetStreamRunThreads, Memos
from notifier.store.jetstream.silences import JetStreamSilences
from notifier.store.jetstream.sizes import DEFAULT_TOTAL
from notifier.store.protocol import (
    Accepted,
    ChannelStats,
    DeadLetter,
    Health,
    Incoming,
    NotificationId,
    Pending,
    Retention,
    Storage,
    Update,
)

# The service's ack_wait (see JetStreamStore's `ack_wait`): a replica that dies hands its claims on after this.
SERVICE_ACK_WAIT = 6.0


class JetStreamStore:
    def __init__(
        self,
        url: str,
        prefix: str,
        clock: Clock,
        retention: Retention,
        thread_max_age: float,
        *,
        lease: float,
        create: bool = True,
        ack_wait: float | None = None,
        max_bytes: int = DEFAULT_TOTAL,
    ) -> None:
        """`prefix` as validated by the settings (NOTIFIER_NATS_PREFIX); `thread_max_age` sets the threads
        bucket's max age; `lease`: no claim lasts longer; `create=False` for tools that read a service's outbox:
        nothing missing is created; `max_bytes` (NOTIFIER_NATS_MAX_BYTES): what the streams and buckets reserve
        together.

        `ack_wait` (the consumers' own, default the lease): when shorter than the lease, the store sends a progress
        ack for each claim it holds every third of it, so that the server hands a claim to another replica only
        once its holder is gone (killed, or cut off from NATS), `ack_wait` seconds later, and never while the
        claim waits its turn in a worker's buffer."""
        self.link = Link(url, Layout(prefix, retention, thread_max_age, max_bytes), create=create)
        self._deliveries = Deliveries(self.link, clock, lease=lease, ack_wait=min(lease, ack_wait or lease))
        dead = DeadLetters(self.link, clock)
        self._dead = dead
        self._acceptor = Acceptor(self.link, clock, retention, Memos(self.link), dead)
        self._claimer = Claimer(self.link, clock, self._deliveries)
        self._finisher = Finisher(self.link, clock, self._deliveries, dead)

    async def open(self) -> None:
        await self.link.open()
        self._deliveries.start()

    async def close(self) -> None:
        await self.link.close(await self._deliveries.stop())

    async def accept(self, items: Sequence[Incoming]) -> list[Accepted]:
        return await self._acceptor.accept(items)

    async def claim(self, channel: str, limit: int, lease: float) -> list[Pending]:
        return await self._claimer.claim(channel, limit, lease)

    async def next_due(self, channel: str) -> float | None:
        return await self._claimer.next_due(channel)

    async def finish(self, updates: Sequence[Update]) -> None:
        await self._finisher.finish(updates)

    async def stats(self) -> dict[str, ChannelStats]:
        _, js = self.link.connected()
        layout = self.link.layout
        with talking("read the outbox"):
            info = await js.stream_info(layout.outbox, subjects_filter=f"{layout.prefix}.outbox.>")
            counts: dict[str, int] = {}
            for subject, count in (info.state.subjects or {}).items():
                channel = layout.channel_of_subject(subject)
                counts[channel] = counts.get(channel, 0) + count
            stats = {}
            for channel, count in counts.items():
                if not count:
                    continue
                try:
                    oldest = await js.get_msg(layout.outbox, seq=1, subject=layout.channel_subjects(channel), next=True)
                except NotFoundError:
                    continue  # sent since it was counted
                meta, _ = decode(oldest.data)
                stats[channel] = ChannelStats(count, meta.created)
        return stats

    async def dead_letters(self) -> list[DeadLetter]:
        return await self._dead.letters()

    async def retry_dead(self, ids: Collection[NotificationId] | None) -> int:
        return await self._dead.retry(ids)

    async def purge_dead(self, older_than: float) -> int:
        return await self._dead.purge(older_than)

    async def health(self) -> Health:
        return await self.link.health()


def jetstream_storage(store: JetStreamStore, clock: Clock) -> Storage:
    """The shared backend: the outbox and the ports on its one connection, which the outbox's open and close manage."""
    link = store.link
    return Storage(
        store,
        JetStreamRunThreads(link, clock, link.layout.thread_max_age),
        JetStreamPace(link, clock),
        JetStreamSilences(link, clock),
    )
