"""The JetStream store's streams and key-value buckets: their names, subjects and settings.

Everything is named from one prefix (`NOTIFIER_NATS_PREFIX`), file-stored and bounded in age and bytes, so that
the service shares Keptn's NATS without ever touching Keptn's own `keptn` stream; their bytes together are
`NOTIFIER_NATS_MAX_BYTES`, divided as `sizes.py` says. `startup.py` makes them so on the server.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from notifier.store.jetstream.sizes import divide
from notifier.store.protocol import Retention

_PLAIN_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
DAY = 86400.0
# The outbox holds a notification for at most a week (NOTIFIER_RETRY_MAX_AGE parks it long before, by default).
OUTBOX_MAX_AGE = 7 * DAY
# How long a publish may be repeated (after a crash or a lost ack) without storing it twice.
OUTBOX_DUPLICATE_WINDOW = 120.0
DEAD_MAX_AGE = 30 * DAY
PAUSE_TTL = DAY
# Retry counts live as long as their notification can wait in the outbox.
ATTEMPTS_TTL = OUTBOX_MAX_AGE
# The last token of the subject of a notification with neither an order key nor a group.
FREE = "_"
# Hex digits of an order key's token: 128 bits of the key's sha256, so two keys never share a subject.
ORDER_TOKEN_LENGTH = 32
# The first letter of a group's token (never a hex digit, so never an order key's).
GROUP = "h"
# A memo is rewritten each time it is decided on; past a week unused it is forgotten.
MEMO_TTL = 7 * DAY


def channel_token(channel: str) -> str:
    """A channel name as one subject token, KV key and consumer name part: itself when plain, else encoded."""
    if _PLAIN_TOKEN.match(channel):
        return channel
    # "=" never occurs in a plain name, so an encoded one can never collide with one.
    return "=" + base64.urlsafe_b64encode(channel.encode()).decode().rstrip("=")


def channel_from_token(token: str) -> str:
    if not token.startswith("="):
        return token
    encoded = token[1:]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


def hashed_key(key: str) -> str:
    """Any string as a KV key (whose characters are limited): 128 bits of its sha256, in hex."""
    return hashlib.sha256(key.encode()).hexdigest()[:ORDER_TOKEN_LENGTH]


@dataclass(frozen=True, slots=True)
class Layout:
    """The names and settings of every stream and bucket of one prefix."""

    prefix: str
    retention: Retention
    # NOTIFIER_THREAD_MAX_AGE: how long the threads bucket keeps a run's thread.
    thread_max_age: float
    # NOTIFIER_NATS_MAX_BYTES: what the streams and buckets below reserve together.
    max_bytes: int

    @property
    def outbox(self) -> str:
        return f"{self.prefix}-outbox"

    @property
    def dead(self) -> str:
        return f"{self.prefix}-dead"

    @property
    def dedup(self) -> str:
        return f"{self.prefix}-dedup"

    @property
    def attempts(self) -> str:
        return f"{self.prefix}-attempts"

    @property
    def pauses(self) -> str:
        return f"{self.prefix}-pauses"

    @property
    def threads(self) -> str:
        return f"{self.prefix}-threads"

    @property
    def memos(self) -> str:
        # The name of the bucket an earlier version kept noise control's memory in, which these documents now
        # are: replicas of both versions can share it during a rolling update (their keys differ).
        return f"{self.prefix}-noise"

    @property
    def silences(self) -> str:
        return f"{self.prefix}-silences"

    @property
    def buckets(self) -> tuple[str, ...]:
        return (self.dedup, self.attempts, self.pauses, self.threads, self.memos, self.silences)

    @property
    def obsolete(self) -> tuple[str, ...]:
        """The streams of buckets an earlier version made and this one no longer uses (`-refs`: message refs)."""
        return (f"KV_{self.prefix}-refs",)

    def outbox_subject(self, channel: str, order: str, group: str) -> str:
        """A notification's subject: its channel's, then its order key's or else its group's.

        The oldest message on the subject of an order key (or a group) is the oldest pending notification of that
        key in that channel: what may go first. A subject token cannot hold `.`, `*`, `>` or spaces, so the key
        is hashed.
        """
        if order:
            token = hashlib.sha256(order.encode()).hexdigest()[:ORDER_TOKEN_LENGTH]
        elif group:
            token = GROUP + hashlib.sha256(group.encode()).hexdigest()[: ORDER_TOKEN_LENGTH - 1]
        else:
            token = FREE
        return f"{self.channel_subjects(channel)[:-1]}{token}"

    def channel_subjects(self, channel: str) -> str:
        """Every subject of one channel's notifications: its consumer's filter."""
        return f"{self.prefix}.outbox.{channel_token(channel)}.>"

    @staticmethod
    def channel_of_subject(subject: str) -> str:
        """The channel of an outbox subject (`<prefix>.outbox.<channel>.<key>`; a prefix holds no `.`)."""
        return channel_from_token(subject.split(".")[2])

    def dead_subject(self, notification: str) -> str:
        return f"{self.prefix}.dead.{notification}"

    def consumer(self, channel: str) -> str:
        return f"{self.prefix}-{channel_token(channel)}"

    def streams(self) -> list[tuple[StreamConfig, str]]:
        """Every stream with what sets it, for the error when an existing one differs."""
        # A TTL of 0 would mean "never forget"; a dedup window of 0 means "forget at once".
        window = max(self.retention.window, 1.0)
        size = divide(self.max_bytes)
        return [
            (
                StreamConfig(
                    name=self.outbox,
                    description="keptn-notifier: notifications to send, one subject per channel and order key or group",
                    subjects=[f"{self.prefix}.outbox.>"],
                    retention=RetentionPolicy.WORK_QUEUE,
                    storage=StorageType.FILE,
                    max_age=OUTBOX_MAX_AGE,
                    max_bytes=size["outbox"],
                    # Full: refuse new notifications (the intake answers 503) rather than drop unsent ones.
                    discard=DiscardPolicy.NEW,
                    duplicate_window=OUTBOX_DUPLICATE_WINDOW,
                ),
                "fixed by the service",
            ),
            (
                StreamConfig(
                    name=self.dead,
                    description="keptn-notifier: dead letters, one subject per notification",
                    subjects=[f"{self.prefix}.dead.>"],
                    retention=RetentionPolicy.LIMITS,
                    storage=StorageType.FILE,
                    max_age=DEAD_MAX_AGE,
                    max_bytes=size["dead"],
                    discard=DiscardPolicy.OLD,
                    duplicate_window=OUTBOX_DUPLICATE_WINDOW,
                ),
                "fixed by the service",
            ),
            # Kept past the window for as long as a notification can wait in the outbox: the store forgets an
            # event past the window on its own clock, only once none of its notifications waits (as SQLite does).
            # At the bound the oldest key goes first, sent or not.
            (
                _bucket(
                    self.dedup,
                    size["dedup"],
                    ttl=window + OUTBOX_MAX_AGE,
                    max_msgs=self.retention.max_entries,
                    discard=DiscardPolicy.OLD,
                ),
                "NOTIFIER_DEDUP_WINDOW and dedup_max_entries",
            ),
            (_bucket(self.attempts, size["attempts"], ttl=ATTEMPTS_TTL), "fixed by the service"),
            (_bucket(self.pauses, size["pauses"], ttl=PAUSE_TTL), "fixed by the service"),
            # A run's thread is shared by every replica; the bucket forgets it when the store would.
            (_bucket(self.threads, size["threads"], ttl=max(self.thread_max_age, 1.0)), "NOTIFIER_THREAD_MAX_AGE"),
            # The documents `Outgoing.decide` reads and writes (noise control's memory of a route and channel).
            (_bucket(self.memos, size["memos"], ttl=MEMO_TTL), "fixed by the service"),
            # The silences and their counts: kept until the store forgets them (SILENCE_KEPT after they end), however
            # long a silence lasts (NOTIFIER_SILENCE_MAX_DURATION), so the bucket itself forgets nothing by age.
            (_bucket(self.silences, size["silences"], ttl=0), "fixed by the service"),
        ]


def _bucket(
    name: str, max_bytes: int, *, ttl: float, max_msgs: int = -1, discard: DiscardPolicy = DiscardPolicy.NEW
) -> StreamConfig:
    """A key-value bucket's stream, as nats-py's KeyValue expects it (one value per key), with our bounds."""
    return StreamConfig(
        name=f"KV_{name}",
        description="keptn-notifier key-value bucket",
        subjects=[f"$KV.{name}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=ttl,
        max_bytes=max_bytes,
        max_msgs=max_msgs,
        max_msgs_per_subject=1,
        discard=discard,
        duplicate_window=min(OUTBOX_DUPLICATE_WINDOW, ttl) if ttl else OUTBOX_DUPLICATE_WINDOW,
        allow_rollup_hdrs=True,
        deny_delete=True,
        allow_direct=True,
    )
