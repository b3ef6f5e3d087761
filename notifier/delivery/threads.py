"""Run threads: in a channel that can thread, a Keptn run is one run message, edited in place, with its thread.

The first notification of a run (its `shkeptncontext`) in a channel posts the run message (`run_message`: the
run as it stands), and every notification of the run, the first included, is a reply in its thread. After each
reply the run message is edited to the run's new state: edits are coalesced (the newest state wins) and one
edit loop per channel sends them through the channel's pacer, so at most one edit is in flight per run message.
An edit yields to the notifications waiting in the channel (the worker says when there are some,
`notifications_waiting`) and then shows the newest state, so a burst of a run's notifications costs one edit
after them instead of one between each two; it yields for `MAX_EDIT_YIELD` at most, so that a run message
still moves on while a backlog drains.
The run message's reference and the run's state live in the store (`RunThreadStore`), so a restart continues
the same thread, and the store hands out one notification of a run at a time (`Store.claim`), so two never race
to post it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping

from notifier.channels.base import Channel, Outcome, SendResult
from notifier.clock import Clock, wait_for_event
from notifier.delivery.pacing import Pacer
from notifier.keptn.events import StoredEvent
from notifier.message import MessageRef, Payload
from notifier.render import render
from notifier.runs.message import run_message
from notifier.runs.state import RunState, RunStateError, observe
from notifier.store import Pending, RunThread, RunThreadStore, StoreError

log = logging.getLogger("notifier.threads")
# Locks that keep one run's thread record from being read and written by a send and an edit at once.
LOCK_STRIPES = 64
# How long (seconds) a queued edit lets the channel's waiting notifications go first at most.
MAX_EDIT_YIELD = 10.0


def run_message_payload(format: str, state: RunState, bridge_url: str) -> Payload:
    """The run message of `state` as the channel's format posts it (`preview` draws the same payload)."""
    return render(format, run_message(state, bridge_url))


def reply_payload(payload: Payload, broadcast: bool) -> Payload:
    """A notification as a reply in its run's thread; `broadcast` also shows it in the channel."""
    return dict(payload, reply_broadcast=True) if broadcast and isinstance(payload, Mapping) else payload


class RunThreads:
    """The run messages of one channel: posts, replies in their threads, and the coalesced edits."""

    def __init__(
        self,
        name: str,
        channel: Channel,
        pacer: Pacer,
        threads: RunThreadStore,
        bridge_url: str,
        clock: Clock,
        pause: float,
    ) -> None:
        """`pause` is how long the edits wait after a failed edit the platform gave no Retry-After for."""
        self.name = name
        self._channel = channel
        self._pacer = pacer
        self._threads = threads
        self._bridge_url = bridge_url
        self._clock = clock
        self._pause = pause
        # By context, the newest state to show, the run message to show it in, and since when (monotonic) an
        # edit of it has waited; insertion order is fairness.
        self._edits: dict[str, tuple[MessageRef, RunState, float]] = {}
        self._wake = asyncio.Event()
        # Set while no notification of the channel waits to be sent: then edits go.
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._closing = False
        self._locks = [asyncio.Lock() for _ in range(LOCK_STRIPES)]

    def _lock(self, context: str) -> asyncio.Lock:
        return self._locks[hash(context) % LOCK_STRIPES]

    async def send(self, item: Pending, payload: Payload, stored: StoredEvent) -> SendResult:
        """Reply with `payload` in the run's thread; the run's first notification posts the run message first.

        The caller has taken one pacer token; every further request here takes its own. The store is asked only
        for what must be read (the thread) or made durable (a new run message, a changed state).
        """
        context = item.keptn_context
        async with self._lock(context):
            thread = await self._threads.get(self.name, context)
            before = self._state_of(thread, context)
            seen = observe(stored.read())
            state = seen if before is None else before.merge(seen)
            paced = False
            if thread is None:
                # The run message shows the run as it stands; the notification itself is its first reply, so
                # that whoever opens the thread reads every notification of the run.
                thread, refused = await self._post_run_message(context, state, paced=False)
                if thread is None:
                    return refused
                before, paced = state, True
            reply = self._view(reply_payload(payload, item.broadcast), "reply", context)
            if paced:
                await self._pacer.acquire()
            result = await self._channel.send(reply, reply_to=thread.ref)
            if result.gone:
                log.warning(
                    "channel %s: the run message of %s is gone (%s); starting a new one",
                    self.name,
                    context,
                    result.reason,
                    extra={"channel": self.name, "keptnContext": context},
                )
                thread, refused = await self._post_run_message(context, state, paced=True)
                if thread is None:
                    return refused
                before = state
                await self._pacer.acquire()
                result = await self._channel.send(reply, reply_to=thread.ref)
            if result.outcome is not Outcome.SENT:
                return result
            if state != before:  # `before` is what the store holds: a new run message was saved with `state`
                await self._threads.put(self.name, context, dataclasses.replace(thread, state=state.to_json()))
        if state != before:
            queued = self._edits.get(context)
            self._edits[context] = (thread.ref, state, self._clock.monotonic() if queued is None else queued[2])
            self._wake.set()
        return result

    def notifications_waiting(self, waiting: bool) -> None:
        """The channel's worker says whether notifications wait to be sent (claimed, or due and not yet claimed)."""
        if waiting:
            self._quiet.clear()
        else:
            self._quiet.set()

    def _state_of(self, thread: RunThread | None, context: str) -> RunState | None:
        if thread is None:
            return None
        try:
            return RunState.from_json(thread.state)
        except RunStateError as exc:
            log.error("channel %s: run %s: %s; keeping only what comes next", self.name, context, exc)
            return None

    async def _post_run_message(
        self, context: str, state: RunState, *, paced: bool
    ) -> tuple[RunThread | None, SendResult]:
        """The new run's thread, stored; or None and the platform's refusal."""
        if paced:
            await self._pacer.acquire()
        result = await self._channel.send(self._run_payload(state, "new"))
        if result.outcome is not Outcome.SENT or result.ref is None:
            if result.outcome is Outcome.SENT:  # a platform that gave no reference cannot thread
                result = SendResult.dead("no_message_ref", "the platform did not say where it put the run message")
            return None, result
        thread = RunThread(result.ref, state.to_json(), self._clock.time())
        await self._threads.put(self.name, context, thread)
        return thread, result

    def _run_payload(self, state: RunState, how: str) -> Payload:
        return self._view(run_message_payload(self._channel.format, state, self._bridge_url), how, state.context)

    def _view(self, payload: Payload, how: str, context: str) -> Payload:
        """On a text channel (the console), mark what is a run message, an edit of one, and a reply in a thread.

        A new message (a run message, a reply) shows as any message does, under a line that says which; an edit
        is framed (`┃`), so that it reads as the same message changed, not as one more.
        """
        if not isinstance(payload, str):
            return payload
        short = context[:8]
        if how == "reply":
            return f"↳ in the thread of run {short}\n{payload}"
        if how == "new":
            return f"┏━ run message · run {short}\n{payload}"
        framed = "\n".join(f"┃ {line}" for line in payload.rstrip("\n").splitlines())
        return f"┏━ run message, edited · run {short}\n{framed}"

    # -- the edits ------------------------------------------------------------------------------------

    async def run_edits(self) -> None:
        """Send the coalesced edits one at a time, paced, after the waiting notifications; on close, what is left."""
        while True:
            if not self._edits:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            context, (_, _, since) = next(iter(self._edits.items()))
            if not self._closing:
                # Replies first: the edit after them shows what they said too, so they cost no edit of their own.
                await wait_for_event(self._clock, self._quiet, since + MAX_EDIT_YIELD - self._clock.monotonic())
            await self._pacer.acquire()
            # The newest state, which replies sent while this edit waited may have queued.
            ref, state, _ = self._edits.pop(context)
            try:
                result = await self._channel.send(self._run_payload(state, "edit"), replace=ref)
                await self._edited(context, ref, state, result)
            except Exception:  # a bug; the next notification of the run shows its whole state again
                log.exception("channel %s: editing the run message of %s failed", self.name, context)

    async def _edited(self, context: str, ref: MessageRef, state: RunState, result: SendResult) -> None:
        if result.outcome is Outcome.SENT:
            return
        extra = {"channel": self.name, "keptnContext": context, "reason": result.reason}
        if result.outcome is Outcome.RETRY:
            self._pacer.pause(result.retry_after if result.retry_after is not None else self._pause)
            # Unless a newer state came meanwhile, this one is still the one to show.
            self._edits.setdefault(context, (ref, state, self._clock.monotonic()))
            log.warning("channel %s: editing the run message of %s: %s, later", self.name, context, result.reason)
            return
        if not result.gone:
            log.warning(
                "channel %s: cannot edit the run message of %s: %s", self.name, context, result.reason, extra=extra
            )
            return
        try:
            async with self._lock(context):
                thread = await self._threads.get(self.name, context)
                if thread is None or thread.ref != ref:
                    return  # a send replaced the run message already, or the thread expired
                await self._post_run_message(context, self._state_of(thread, context) or state, paced=True)
        except StoreError as exc:
            log.error("channel %s: cannot replace the run message of %s: %s", self.name, context, exc, extra=extra)

    @property
    def edits_queued(self) -> int:
        """Run messages with an edit waiting to be sent (for tests and a look from outside)."""
        return len(self._edits)

    def close(self) -> None:
        """The edit loop sends what is queued, without waiting for notifications any more, and returns."""
        self._closing = True
        self._wake.set()
        self._quiet.set()
