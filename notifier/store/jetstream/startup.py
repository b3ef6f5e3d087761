"""Start-up of the JetStream store: make the streams and buckets of `layout.py` so on the server, or say why not.

A stream or bucket that already exists with other settings stops start-up with the setting that differs and what
to do: two replicas that disagree on, say, the dedup window would otherwise quietly use whichever created the
bucket first. Its size is the exception: it is changed in place (a stream of an earlier version, or a new total),
since it only bounds what the stream may hold and JetStream reserves it whole. A bucket an earlier version made
and this one no longer uses is deleted, so that it holds back no storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import replace

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import APIError, NotFoundError

from notifier.store.jetstream.layout import Layout
from notifier.store.jetstream.sizes import MIN_TOTAL, MiB, in_words
from notifier.store.protocol import StoreError

log = logging.getLogger("notifier.store")

# What is compared with an existing stream: what we set on purpose, nothing the server fills in, and not the
# size, which start-up changes in place.
_COMPARED = (
    "subjects",
    "retention",
    "storage",
    "max_age",
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


# JetStream's error code for "insufficient storage resources available": a reservation beyond what is left.
NO_ROOM = 10047
# JetStream's error code for a stream it could not create. Its "error creating store for stream" covers a race of
# the server's own: deleting an account's last stream (the probe below, on a JetStream that holds nothing else)
# removes the account's folder in the background, and a stream made just then finds it gone ("could not create
# storage directory", in the server's log only). It passes within moments, so such a create is tried again.
CREATE_FAILED = 10049
CREATE_TRIES = 5
CREATE_RETRY_WAIT = 0.05


async def ensure_streams(js: JetStreamContext, layout: Layout, *, create: bool) -> None:
    """Create what is missing, resize what has another size and refuse what differs otherwise; with `create`
    off (tools that read or administer a service's outbox) only check that everything is there, whatever the
    settings of the shell they run in."""
    found: list[tuple[StreamConfig, StreamInfo | None]] = []
    for want, origin in layout.streams():
        assert want.name is not None
        try:
            have: StreamInfo | None = await js.stream_info(want.name)
        except NotFoundError:
            if not create:
                raise StoreError(
                    f"NATS has no stream {want.name}: give the service's NOTIFIER_NATS_PREFIX and NATS_URL (a "
                    "service of this version makes its streams when it starts)"
                ) from None
            have = None
        if create and have is not None and (why := difference(have.config, want)) is not None:
            raise StoreError(
                f"NATS stream {want.name} already exists with other settings: {why} ({origin}). Give every replica "
                f"the same settings, or change the stream to match (nats stream edit {want.name}), or delete it "
                "if what it holds may go (nats stream rm)"
            )
        found.append((want, have))
    if create:
        await _drop_obsolete(js, layout)
        await _reserve(js, layout, found)


async def _drop_obsolete(js: JetStreamContext, layout: Layout) -> None:
    """Delete what an earlier version made and this one never reads: else it would hold its size for good."""
    for name in layout.obsolete:
        try:
            info = await js.stream_info(name)
        except NotFoundError:
            continue
        with contextlib.suppress(NotFoundError):  # another replica starting deleted it first
            await js.delete_stream(name)
        log.info(
            "NATS stream %s: deleted, a bucket of an earlier version (%s) this one does not use",
            name,
            in_words(_reserved(info)) if _reserved(info) else "no size limit",
        )


def _reserved(info: StreamInfo | None) -> int:
    """What a stream holds back of JetStream's file storage: its max_bytes (none without a limit)."""
    limit = None if info is None else _plain(info.config.max_bytes)
    return limit if isinstance(limit, int) and limit > 0 else 0


async def _reserve(js: JetStreamContext, layout: Layout, found: list[tuple[StreamConfig, StreamInfo | None]]) -> None:
    """Give each stream its size: what shrinks first, then, if the server has room for what grows, the rest.

    The room is checked before anything grows, so that a total the server cannot grant leaves no half-made set of
    streams holding storage that Keptn's own stream may need."""
    changes = [(want, have) for want, have in found if have is None or _plain(have.config.max_bytes) != want.max_bytes]
    changes.sort(key=lambda change: _growth(*change))
    growth = sum(max(_growth(want, have), 0) for want, have in changes)
    probe = _Probe(js, layout.prefix)
    await probe.clear()
    checked = False
    for want, have in changes:
        assert want.name is not None and want.max_bytes is not None
        if not checked and _growth(want, have) > 0:
            checked = True
            if not await probe.fits(growth):
                raise await _no_room(js, layout, probe)
        try:
            if have is None:
                await _add_stream(js, want)
            else:
                await js.update_stream(replace(have.config, max_bytes=want.max_bytes))
                lost = have.state.bytes > want.max_bytes
                log.log(logging.WARNING if lost else logging.INFO, _resized(have, want, layout))
        except APIError as exc:
            if exc.err_code == NO_ROOM:
                raise await _no_room(js, layout, probe) from None
            hint = (
                f"the NATS server's log says why (tried {CREATE_TRIES} times; is its store_dir writable, with room?)"
                if exc.err_code == CREATE_FAILED and have is None
                else "check that no other stream takes its subjects"
            )
            raise StoreError(
                f"cannot {'create' if have is None else 'resize'} NATS stream {want.name}: {exc.description}; {hint}"
            ) from None


def _growth(want: StreamConfig, have: StreamInfo | None) -> int:
    assert want.max_bytes is not None
    return want.max_bytes - _reserved(have)


def _resized(have: StreamInfo, want: StreamConfig, layout: Layout) -> str:
    """The log line of a stream given another size (an earlier version's, or another total's), with what it costs."""
    assert want.max_bytes is not None
    line = (
        f"NATS stream {want.name}: max_bytes {in_words(_reserved(have)) if _reserved(have) else 'unlimited'} -> "
        f"{in_words(want.max_bytes)}, its share of NOTIFIER_NATS_MAX_BYTES ({in_words(layout.max_bytes)})"
    )
    if have.state.bytes <= want.max_bytes:
        return line
    if _plain(have.config.discard) == DiscardPolicy.NEW.value:
        return f"{line}; it holds {in_words(have.state.bytes)}, so it takes nothing new until it holds less"
    return f"{line}; it held {in_words(have.state.bytes)}, so NATS dropped its oldest entries"


async def _no_room(js: JetStreamContext, layout: Layout, probe: _Probe) -> StoreError:
    """The start-up error when JetStream cannot reserve the total: how much the service's streams could have."""
    free = await probe.room(layout.max_bytes)
    held = 0
    for want, _ in layout.streams():
        assert want.name is not None
        try:
            held += _reserved(await js.stream_info(want.name))
        except NotFoundError:
            continue
    room = free + held
    left = f"{in_words(room)} of file storage left for them" + (
        f" ({in_words(held)} of it what they reserve now)" if held else ""
    )
    advice = (
        f"set NOTIFIER_NATS_MAX_BYTES to {room // MiB}MiB or less, or give JetStream more file storage (max_file_store)"
        if room >= MIN_TOTAL
        else f"that is less than the {in_words(MIN_TOTAL)} they need at the least: give JetStream more file "
        "storage (max_file_store), or lower the max_bytes of other streams"
    )
    return StoreError(
        f"NATS JetStream has no room for the service's streams and buckets: NOTIFIER_NATS_MAX_BYTES asks for "
        f"{in_words(layout.max_bytes)} in all, and the server has {left}; {advice}"
    )


async def _add_stream(js: JetStreamContext, config: StreamConfig) -> None:
    for attempt in range(1, CREATE_TRIES + 1):
        try:
            await js.add_stream(config)
            return
        except APIError as exc:
            if exc.err_code != CREATE_FAILED or attempt == CREATE_TRIES:
                raise
            log.debug("NATS could not create stream %s yet (%s): trying again", config.name, exc.description)
        # Real time, not the store's clock: how long the server's own clean-up takes.
        await asyncio.sleep(CREATE_RETRY_WAIT * attempt)


class _Probe:
    """Measures what JetStream can still reserve, by making (and at once deleting) a stream of a given size.

    A client can read its account's reservations and limits ($JS.API.INFO) but not the server's own
    max_file_store, which is Keptn's limit (its NATS runs one account without limits): so it asks the server."""

    def __init__(self, js: JetStreamContext, prefix: str) -> None:
        self._js = js
        self._prefix = prefix
        # Its own name: two replicas starting at once measure side by side.
        token = secrets.token_hex(4)
        self._config = StreamConfig(
            name=f"{prefix}-room-{token}",
            description="keptn-notifier: measures JetStream's free storage, deleted at once",
            subjects=[f"{prefix}.room.{token}"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
        )

    async def clear(self) -> None:
        """Delete what a process that died while measuring left (it would hold its size for good)."""
        while True:
            try:
                name = await self._js.find_stream_name_by_subject(f"{self._prefix}.room.>")
            except NotFoundError:
                return
            # Another stream whose subjects take these too is not ours to delete (nor would ours fit beside it).
            if not name.startswith(f"{self._prefix}-room-"):
                return
            with contextlib.suppress(NotFoundError):
                await self._js.delete_stream(name)

    async def fits(self, size: int) -> bool:
        try:
            await _add_stream(self._js, replace(self._config, max_bytes=size))
        except APIError as exc:
            if exc.err_code == NO_ROOM:
                return False
            raise StoreError(
                f"cannot create NATS stream {self._config.name} (to see how much storage JetStream has left): "
                f"{exc.description}"
            ) from None
        # Gone already when another replica's clear() took it.
        with contextlib.suppress(NotFoundError):
            await self._js.delete_stream(self._config.name or "")
        return True

    async def room(self, most: int) -> int:
        """What JetStream can still reserve, in whole MiB, up to `most`: a dozen tries for a few GiB."""
        fits, fails = 0, most // MiB + 1
        while fails - fits > 1:
            middle = (fits + fails) // 2
            if await self.fits(middle * MiB):
                fits = middle
            else:
                fails = middle
        return fits * MiB
