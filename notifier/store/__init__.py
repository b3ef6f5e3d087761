"""Durable state: the outbox of notifications, the dedup memory and the dead letters.

`protocol.py` is the contract (and all that importing this package loads); `sqlite.py` is the embedded store,
`jetstream.py` the one several replicas share in NATS JetStream, `memory.py` one that lives and dies with the
process; `factory.make_store` picks the one the settings ask for.
"""

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
    NoiseDecide,
    NoiseVerdict,
    NotificationId,
    Pending,
    Release,
    Retention,
    Retry,
    RunThread,
    Sent,
    Store,
    StoreError,
    StoreMissing,
    Update,
)

__all__ = [
    "DIGEST_TYPE",
    "ChannelStats",
    "Claim",
    "Dead",
    "DeadLetter",
    "Destination",
    "Health",
    "Incoming",
    "Noise",
    "NoiseDecide",
    "NoiseVerdict",
    "NotificationId",
    "Pending",
    "Release",
    "Retention",
    "Retry",
    "RunThread",
    "Sent",
    "Store",
    "StoreError",
    "StoreMissing",
    "Update",
]
