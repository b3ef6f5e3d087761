"""The dead letters: a limits stream with one subject per notification, listed, queued again and purged by the
tools (`keptn-notifier dead ...`) from any shell with the service's prefix."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from notifier.clock import Clock
from notifier.store.jetstream.connection import Link, talking
from notifier.store.jetstream.messages import Death, Meta, decode_letter, encode
from notifier.store.protocol import DeadLetter, NotificationId


class DeadLetters:
    def __init__(self, link: Link, clock: Clock) -> None:
        self._link = link
        self._clock = clock

    async def bury(self, notifications: Sequence[tuple[Meta, bytes]], death: Death) -> None:
        """Copy each notification to the dead letters as its own, with its own event; the caller then drops them
        from the outbox. Copied again after a crash in between, a letter is dropped as a repeat (Nats-Msg-Id)."""
        _, js = self._link.connected()
        for meta, body in notifications:
            await js.publish(
                self._link.layout.dead_subject(meta.id),
                encode(meta, body, death),
                headers={"Nats-Msg-Id": f"{meta.attempts_key}.dead"},
            )

    async def holds(self, notification: NotificationId) -> bool:
        _, js = self._link.connected()
        try:
            await js.get_last_msg(self._link.layout.dead, self._link.layout.dead_subject(notification))
        except NotFoundError:
            return False
        return True

    async def _messages(self) -> list[RawStreamMsg]:
        _, js = self._link.connected()
        found: list[RawStreamMsg] = []
        seq = 1
        every = f"{self._link.layout.prefix}.dead.>"
        while True:
            try:
                message = await js.get_msg(self._link.layout.dead, seq=seq, subject=every, next=True)
            except NotFoundError:
                return found
            found.append(message)
            seq = (message.seq or seq) + 1

    async def letters(self) -> list[DeadLetter]:
        with talking("read the dead letters"):
            messages = await self._messages()
        letters = []
        for message in messages:
            meta, death, body = decode_letter(message.data)
            letters.append(
                DeadLetter(
                    meta.id,
                    meta.channel,
                    meta.route,
                    meta.type,
                    body,
                    death.reason,
                    death.attempts,
                    meta.created,
                    death.died,
                )
            )
        return letters

    async def retry(self, ids: Collection[NotificationId] | None) -> int:
        """Queue them again as new, in the order they died: a group's letters make one group again."""
        _, js = self._link.connected()
        layout = self._link.layout
        now = self._clock.time()
        wanted = None if ids is None else set(ids)
        count = 0
        with talking("queue dead letters again"):
            for message in await self._messages():
                meta, _, body = decode_letter(message.data)
                if wanted is not None and meta.id not in wanted:
                    continue
                # A new generation: its attempts count from zero, and its publish is not a repeat of the first.
                again = replace(meta, created=now, generation=message.seq or 0)
                await js.publish(
                    layout.outbox_subject(again.channel, again.order, again.group),
                    encode(again, body),
                    headers={"Nats-Msg-Id": again.attempts_key},
                )
                await js.delete_msg(layout.dead, message.seq or 0)
                count += 1
        return count

    async def purge(self, older_than: float) -> int:
        _, js = self._link.connected()
        cutoff = self._clock.time() - older_than
        count = 0
        with talking("purge dead letters"):
            for message in await self._messages():
                _, death, _ = decode_letter(message.data)
                if death.died < cutoff:
                    await js.delete_msg(self._link.layout.dead, message.seq or 0)
                    count += 1
        return count
