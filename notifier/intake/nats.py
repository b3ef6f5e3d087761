"""Events straight from Keptn's NATS, without the distributor: a JetStream consumer of our own, or core NATS.

Keptn publishes each event with a core NATS publish, subject = event type, body = the CloudEvent JSON; from 0.14
its stream `keptn` (subjects `sh.keptn.>`) keeps them.

- JetStream mode (`NATS_JETSTREAM`, by default when the server has JetStream): one durable pull consumer
  (`NATS_CONSUMER`) on Keptn's stream (`NATS_STREAM`), filtered to the `PUBSUB_TOPIC` subjects, created with
  deliver policy `new` (never `all`: the stream holds Keptn's whole history). A message is acked only once
  `submit` returned (the event and its notifications are stored); a store failure naks it with a delay; a
  message that can never become an event (not JSON, not a CloudEvent, over `NOTIFIER_MAX_BODY` or the input
  limits) is terminated, counted and logged once. At least once from the stream to the outbox, and the
  pipeline's dedup makes a redelivery harmless. The stream is Keptn's: never created or changed here; while it
  is missing the intake is not ready and looks again.
- Core mode (`NATS_JETSTREAM=false`): a queue subscription (`PUBSUB_GROUP`) to each subject, as Keptn's own 1.x
  services subscribe. The broker keeps nothing: an event that comes while the store fails, or while no member
  of the group is connected, is lost (at most once).

It connects as the JetStream store does (`notifier/nats_connection.py`), but reconnects in a loop of its own,
not the client's: one attempt at a time, a growing pause between attempts, forever, one log line each;
`readiness` says what is wrong meanwhile, and the HTTP intake and the admin serve regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Literal

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, NotFoundError, ServiceUnavailableError

from notifier.clock import Clock, wait_for_event
from notifier.config.settings import Settings
from notifier.config.source import ConfigError
from notifier.intake.cloudevents import parse_structured
from notifier.intake.nats_consumer import consumer_config, consumer_difference
from notifier.intake.protocol import EventSink
from notifier.keptn.events import EventError
from notifier.metrics import Metrics
from notifier.nats_connection import Unreachable, close, connect, describe
from notifier.store import StoreError

log = logging.getLogger("notifier.intake.nats")
REQUEST_TIMEOUT = 5
# The pause after the n-th failure in a row: FIRST * 2**(n-1), at most MAX.
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
# A server that stops answering is taken for gone after about PING_INTERVAL * (MAX_OUTSTANDING_PINGS + 1) s.
PING_INTERVAL = 10
MAX_OUTSTANDING_PINGS = 2
# Messages asked for at once, and how long a fetch waits for the first (a pause is noticed within it).
FETCH_BATCH = 64
FETCH_WAIT = 2.0
# When the stream hands a message back that the store could not take.
NAK_DELAY = 2.0
# How long `stop` lets the events in hand finish before it cuts them off (they come again: never acked).
STOP_WAIT = 10.0

Outcome = Literal["stored", "dropped", "retry"]


class Unavailable(Exception):
    """The intake cannot take events now; the text says why. Tried again after a pause."""


class Conflict(Unavailable):
    """What exists on the server contradicts the settings: a start-up error, or not ready until mended."""


class NatsIntake:
    def __init__(self, settings: Settings, metrics: Metrics, clock: Clock) -> None:
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._url = settings.nats_url
        self._subjects = [pattern.text for pattern in settings.subscription.essential()]
        self._sink: EventSink | None = None
        self._pausing = asyncio.Event()
        self._problem: str | None = f"connecting to NATS at {self._url}"
        self._failures = 0
        # Chosen at the first connection and kept: True = JetStream, False = core NATS.
        self._jetstream: bool | None = settings.nats_jetstream
        self._nc: Client | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[Unavailable | None] | None = None

    # -- IntakeSource ----------------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        """Returns after the first attempt, whatever it gave, except a conflict with what exists on the server,
        which stops start-up (ConfigError); later attempts run in the background."""
        self._sink = sink
        self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name="nats-intake")
        await asyncio.wait((self._first, self._task), return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            self._task.result()  # a bug: let it show
        if self._first.done() and isinstance(first := self._first.result(), Conflict):
            await self.stop()
            raise ConfigError(str(first))

    def readiness(self) -> str | None:
        return None if self._problem is None else f"NATS intake: {self._problem}"

    def pause(self) -> None:
        self._pausing.set()

    async def stop(self) -> None:
        self._pausing.set()
        if self._task is not None:
            await asyncio.wait((self._task,), timeout=STOP_WAIT)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._disconnect()
        self._sink = None

    # -- the connection --------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._pausing.is_set():
            try:
                if self._nc is None:
                    self._nc = await self._connect()
                await self._take_events(self._nc)
            except Unavailable as exc:
                self._failures += 1
                self._problem = str(exc)
                if self._lost.is_set():
                    await self._disconnect()
                delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self._failures - 1))
                level = logging.ERROR if isinstance(exc, Conflict) else logging.WARNING
                log.log(level, "NATS intake: %s; trying again in %g s", exc, delay, extra={"attempt": self._failures})
                self._settle_first(exc)
                await wait_for_event(self._clock, self._pausing, delay)
        self._problem = "stopping"

    def _settle_first(self, outcome: Unavailable | None) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_result(outcome)

    def _taking(self, what: str) -> None:
        """Events flow: ready again, and the pause after the next failure starts short."""
        self._problem = None
        self._failures = 0
        log.info("NATS intake: %s", what, extra={"natsUrl": self._url})
        self._settle_first(None)

    async def _connect(self) -> Client:
        """One attempt; nats-py's own reconnecting is off, so that every attempt is this loop's and logged once."""
        nc = Client()
        lost = self._lost = asyncio.Event()

        async def on_error(exc: Exception) -> None:
            if isinstance(exc, nats.errors.SlowConsumerError):  # core NATS dropped messages for us
                log.warning("NATS intake: %s", describe(exc), extra={"natsUrl": self._url})
            else:  # an error that ends the connection: on_closed says it, once
                log.debug("NATS intake: %s", describe(exc), extra={"natsUrl": self._url})

        async def on_closed() -> None:
            if lost.is_set() or self._nc is not nc:
                return  # our own close, or a connection given up already
            lost.set()
            why = f" ({describe(nc.last_error)})" if nc.last_error is not None else ""
            self._problem = f"disconnected from NATS at {self._url}{why}; reconnecting"
            log.warning("NATS intake: %s", self._problem)

        try:
            await connect(
                nc,
                self._url,
                reconnect=False,
                on_error=on_error,
                on_closed=on_closed,
                ping_interval=PING_INTERVAL,
                max_outstanding_pings=MAX_OUTSTANDING_PINGS,
            )
        except Unreachable as exc:
            raise Unavailable(f"cannot reach NATS at {self._url} ({exc})") from None
        return nc

    async def _disconnect(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            await close(nc)  # with the acks still on their way

    def _gone(self) -> Unavailable:
        return Unavailable(self._problem or f"disconnected from NATS at {self._url}; reconnecting")

    async def _take_events(self, nc: Client) -> None:
        js = nc.jetstream(timeout=REQUEST_TIMEOUT)
        if self._jetstream is None:
            self._jetstream = await self._has_jetstream(js)
            log.info(
                "NATS intake: the server %s JetStream, so events come %s (NATS_JETSTREAM unset)",
                "has" if self._jetstream else "has no",
                "from a consumer of the stream" if self._jetstream else "by core NATS subscription, at most once",
            )
        if self._jetstream:
            await self._take_from_stream(nc, js)
        else:
            await self._take_from_core(nc)

    async def _has_jetstream(self, js: JetStreamContext) -> bool:
        try:
            await js.account_info()
        except nats.errors.NoRespondersError:
            return False
        except ServiceUnavailableError as exc:
            if exc.err_code is None:  # no responder behind the JetStream API: the server runs without it
                return False
            raise Unavailable(f"cannot ask NATS at {self._url} about JetStream ({describe(exc)})") from None
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            raise Unavailable(f"cannot ask NATS at {self._url} about JetStream ({describe(exc)})") from None
        return True

    # -- JetStream ---------------------------------------------------------------------------------------

    async def _take_from_stream(self, nc: Client, js: JetStreamContext) -> None:
        settings = self._settings
        stream, consumer = settings.nats_stream, settings.nats_consumer
        await self._ensure_consumer(js)
        try:
            sub = await js.pull_subscribe_bind(consumer=consumer, stream=stream)
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            raise Unavailable(f"cannot read consumer {consumer} of stream {stream}: {describe(exc)}") from None
        self._taking(f"taking {', '.join(self._subjects)} from stream {stream} as consumer {consumer}")
        try:
            while not self._pausing.is_set():
                try:
                    messages = await sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT)
                except TimeoutError:  # nothing came (nats-py raises its own or asyncio's)
                    if self._lost.is_set():
                        raise self._gone() from None
                    continue
                except (nats.errors.Error, OSError) as exc:
                    if self._lost.is_set() or nc.is_closed:
                        raise self._gone() from None
                    raise Unavailable(f"cannot fetch from stream {stream} ({describe(exc)})") from None
                await asyncio.gather(*(self._take_stored(message) for message in messages))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _ensure_consumer(self, js: JetStreamContext) -> None:
        """Our consumer on Keptn's stream: created the first time, checked against the settings after."""
        settings = self._settings
        stream, name = settings.nats_stream, settings.nats_consumer
        want = consumer_config(name, self._subjects)
        try:
            await js.stream_info(stream)
            try:
                have = (await js.consumer_info(stream, name)).config
            except NotFoundError:
                await js.add_consumer(stream, want)
                log.info(
                    "NATS intake: created consumer %s on stream %s with deliver policy new: events from now on",
                    name,
                    stream,
                )
                return
        except NotFoundError:
            raise Unavailable(
                f"NATS at {self._url} has no stream {stream} yet: Keptn's shipyard-controller creates it "
                "(Keptn 0.14 and later); waiting for it (or set NATS_STREAM, or NATS_JETSTREAM=false)"
            ) from None
        except ServiceUnavailableError as exc:
            if exc.err_code is not None:
                raise Unavailable(f"cannot look at stream {stream} on NATS at {self._url} ({describe(exc)})") from None
            raise Unavailable(
                f"NATS at {self._url} has no JetStream: run it with JetStream (Keptn 0.14 and later do), or set "
                "NATS_JETSTREAM=false for a core subscription"
            ) from None
        except BadRequestError as exc:  # the server refuses the consumer the settings describe
            raise Conflict(f"NATS refuses consumer {name} on stream {stream}: {describe(exc)}") from None
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            raise Unavailable(f"cannot look at stream {stream} on NATS at {self._url} ({describe(exc)})") from None
        if (why := consumer_difference(have, want)) is not None:
            raise Conflict(
                f"NATS consumer {name} on stream {stream} already exists with other settings: {why}. Give every "
                f"replica the same settings, or set NATS_CONSUMER to another name, or delete it "
                f"(nats consumer rm {stream} {name}) to have it created anew, from new events on"
            )

    async def _take_stored(self, message: Msg) -> None:
        if self._pausing.is_set():
            await _answer(message.nak())  # shutting down: another replica may take it now
            return
        outcome = await self._take(message)
        if outcome == "stored":
            await _answer(message.ack())
        elif outcome == "dropped":
            await _answer(message.term())
        else:
            self._metrics.intake_retries.inc()
            await _answer(message.nak(delay=NAK_DELAY))

    # -- core NATS ---------------------------------------------------------------------------------------

    async def _take_from_core(self, nc: Client) -> None:
        group = self._settings.pubsub_group
        subscriptions = []
        try:
            try:
                for subject in self._subjects:
                    subscriptions.append(await nc.subscribe(subject, queue=group, cb=self._take_core))
                await nc.flush(timeout=REQUEST_TIMEOUT)
            except (nats.errors.Error, TimeoutError, OSError) as exc:
                raise Unavailable(f"cannot subscribe on NATS at {self._url} ({describe(exc)})") from None
            self._taking(f"subscribed to {', '.join(self._subjects)} in queue group {group} (core NATS, at most once)")
            lost, pausing = asyncio.ensure_future(self._lost.wait()), asyncio.ensure_future(self._pausing.wait())
            try:
                await asyncio.wait((lost, pausing), return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
                pausing.cancel()
            if not self._pausing.is_set():
                raise self._gone()
        finally:
            # Out of the group at once, so that the broker hands the next events to the other members.
            for subscription in subscriptions:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    async def _take_core(self, message: Msg) -> None:
        if await self._take(message) == "retry":
            self._metrics.events_rejected.labels("not_stored").inc()

    # -- one message -------------------------------------------------------------------------------------

    async def _take(self, message: Msg) -> Outcome:
        """Store the event a message holds: "stored" (or ignored, or a duplicate), "dropped" when it can never
        be an event (counted and logged here, once), "retry" when the store failed."""
        assert self._sink is not None, "start() the intake first"
        limit = self._settings.max_body_bytes
        try:
            if len(message.data) > limit:
                self._drop(message, "too_large", f"the message is larger than NOTIFIER_MAX_BODY ({limit} bytes)")
                return "dropped"
            await self._sink.submit([parse_structured(message.data)], len(message.data))
        except EventError as exc:
            self._drop(message, "malformed", str(exc))
            return "dropped"
        except StoreError as exc:
            if self._jetstream:
                log.warning("NATS intake: could not store an event from %s (%s); it comes again", message.subject, exc)
            else:
                log.error(
                    "NATS intake: lost an event from %s: the store cannot take it (%s), and core NATS keeps "
                    "nothing (NATS_JETSTREAM=true keeps it until stored)",
                    message.subject,
                    exc,
                )
            return "retry"
        except Exception:
            log.exception("NATS intake: failed on a message from %s", message.subject)
            return "retry"
        return "stored"

    def _drop(self, message: Msg, reason: str, why: str) -> None:
        self._metrics.events_rejected.labels(reason).inc()
        where = message.subject
        with contextlib.suppress(nats.errors.NotJSMessageError, ValueError, IndexError):
            where += f" (stream sequence {message.metadata.sequence.stream})"
        log.warning("NATS intake: dropped a message on %s: %s", where, why, extra={"reason": reason})


async def _answer(reply: Awaitable[None]) -> None:
    """Ack, nak or term; one lost with the connection changes nothing: the message comes again, and is a
    duplicate then if it was stored."""
    with contextlib.suppress(nats.errors.Error, OSError):
        await reply
