"""The platform-neutral message a template produces and every renderer consumes.

All strings are plain text: no markup of any platform. Each renderer owns the formatting and the escaping
for its platform, so one template serves Slack, Teams and the console alike, and text from an event can
never smuggle markup (mentions, links) into a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    SUCCESS = "success"
    INFO = "info"
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Fact:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Link:
    """A link button. Only http(s) URLs survive rendering; renderers drop others."""

    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    severity: Severity = Severity.INFO
    # One line for notification previews and the Slack `text` fallback; the title when empty.
    summary: str = ""
    # Body paragraphs, plain text; lines starting with "• " are bullets.
    text: str = ""
    facts: tuple[Fact, ...] = ()
    links: tuple[Link, ...] = ()
    # Small print under the message: Keptn context, event time, template name.
    footer: str = ""
    # Which template produced the message ("fallback" when the template failed).
    template: str = field(default="", compare=False)

    @property
    def fallback_text(self) -> str:
        return self.summary or self.title


# What a renderer makes of a Message for one platform: a JSON body, or text for the console.
Payload = dict[str, Any] | str


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where a platform put a message we sent, so that a later one can reply under it or replace it: for Slack
    the channel ID (not a #name: chat.update needs the ID) and the message's `ts`."""

    conversation: str
    id: str
