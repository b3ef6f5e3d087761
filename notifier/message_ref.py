"""Where a platform put a message we sent, so that a later message can reply under it or replace it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MessageRef:
    """For Slack: the channel ID (not a #name: chat.update needs the ID) and the message's `ts`."""

    conversation: str
    id: str
