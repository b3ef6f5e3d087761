"""The JetStream store's streams and key-value buckets: their names, their settings, and the start-up check.

Everything is named from one prefix (`NOTIFIER_NATS_PREFIX`), file-stored and bounded in age and bytes, so that
the service shares Keptn's NATS without ever touching Keptn's own `keptn` stream; their bytes together are
`NOTIFIER_NATS_MAX_BYTES`, divided as `jetstream_sizes` says. A stream or bucket that already exists with other
settings stops start-up with the setting that differs and what to do: two replicas that disagree on, say, the
dedup window would otherwise quietly use whichever created the bucket first.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from notifier.store.jetstream_sizes import divide
from notifier.store.protocol import Retention, StoreError

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
# The last token of an unthreaded notification's subject (a run's token is hex, so never this).
NO_RUN = "_"
# Hex digits of a run token: 128 bits of the context's sha256, so two runs never share a subject.
RUN_TOKEN_LENGTH = 32
# The first letter of a held group's token (never a hex digit, so never a run's).
HELD = "h"
# Noise control's memory is rewritten at each decision; past a week unused it is forgotten.
NOISE_TTL = OUTBOX_MAX_AGE


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


@dataclass(frozen=True, slots=True)
class Layout:
    """The names and settings of every stream and bucket of one prefix."""

    prefix: str
    retention: Retention
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
    def refs(self) -> str:
        return f"{self.prefix}-refs"

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
    def noise(self) -> str:
        return f"{self.prefix}-noise"

    def outbox_subject(self, channel: str, run: str | None) -> str:
        """A notification's subject: its channel's, then its run's (`run`: the context of a threaded one).

        A subject token cannot hold `.`, `*`, `>` or spaces, so the run is a hash of the context: the oldest
        message on a run's subject is the oldest pending notification of that run in that channel.
        """
        token = NO_RUN if run is None else hashlib.sha256(run.encode()).hexdigest()[:RUN_TOKEN_LENGTH]
        return f"{self.channel_subjects(channel)[:-1]}{token}"

    def held_subject(self, channel: str, route: str, until: float) -> str:
        """The subject of the notifications of one route held until one time: the digest that replaces them."""
        group = hashlib.sha256(f"{route}\0{until!r}".encode()).hexdigest()[: RUN_TOKEN_LENGTH - 1]
        return f"{self.channel_subjects(channel)[:-1]}{HELD}{group}"

    def channel_subjects(self, channel: str) -> str:
        """Every subject of one channel's notifications: its consumer's filter."""
        return f"{self.prefix}.outbox.{channel_token(channel)}.>"

    @staticmethod
    def channel_of_subject(subject: str) -> str:
        """The channel of an outbox subject (`<prefix>.outbox.<channel>.<run>`; a prefix holds no `.`)."""
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
                    description="keptn-notifier: notifications to send, one subject per channel and run",
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
            (_bucket(self.refs, size["refs"], ttl=window), "NOTIFIER_DEDUP_WINDOW"),
            (_bucket(self.attempts, size["attempts"], ttl=ATTEMPTS_TTL), "fixed by the service"),
            (_bucket(self.pauses, size["pauses"], ttl=PAUSE_TTL), "fixed by the service"),
            # A run's thread is shared by every replica; the bucket forgets it when the store would.
            (
                _bucket(self.threads, size["threads"], ttl=max(self.retention.thread_max_age, 1.0)),
                "NOTIFIER_THREAD_MAX_AGE",
            ),
            # Noise control's memory, one key per (route, channel): its digest window and its repeat keys' sends.
            (_bucket(self.noise, size["noise"], ttl=NOISE_TTL), "fixed by the service"),
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


# What is compared with an existing stream: what we set on purpose, nothing the server fills in.
_COMPARED = (
    "subjects",
    "retention",
    "storage",
    "max_age",
    "max_bytes",
    "max_msgs",
    "max_msgs_per_subject",
    "discard",
    "duplicate_window",
)


def difference(have: StreamConfig, want: StreamConfig) -> str | None:
    """The first setting in which an existing stream differs from what this service wants, in words."""
    for name in _COMPARED:
        existing, wanted = _plain(getattr(have, name)), _plain(getattr(want, name))
        if isinstance(wanted, float) and isinstance(existing, int | float):
            if abs(existing - wanted) < 0.001:
                continue
        elif existing == wanted:
            continue
        return f"{name} is {existing} but this service wants {wanted}"
    return None


def _plain(value: object) -> object:
    """An enum as its value, and "no limit" as -1 however the server or the client spells it."""
    return -1 if value is None else getattr(value, "value", value)


async def ensure_streams(js: JetStreamContext, layout: Layout, *, create: bool) -> None:
    """Create what is missing and refuse what differs; with `create` off (tools that read or administer a
    service's outbox) only check that everything is there, whatever the settings of the shell they run in."""
    for want, origin in layout.streams():
        assert want.name is not None
        try:
            have = (await js.stream_info(want.name)).config
        except NotFoundError:
            if not create:
                raise StoreError(
                    f"NATS has no stream {want.name}: give the service's NOTIFIER_NATS_PREFIX and NATS_URL"
                ) from None
            try:
                await js.add_stream(want)
            except APIError as exc:
                raise StoreError(
                    f"cannot create NATS stream {want.name}: {exc.description}; "
                    "check that no other stream takes its subjects and that JetStream has room"
                ) from None
            continue
        if create and (why := difference(have, want)) is not None:
            raise StoreError(
                f"NATS stream {want.name} already exists with other settings: {why} ({origin}). Give every replica "
                f"the same settings, or change the stream to match (nats stream edit {want.name}), or delete it "
                "if what it holds may go (nats stream rm)"
            )
