"""The one registry of renderers: a channel's `format` names the pure function that builds its payload."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from notifier.message import Message, Payload
from notifier.render.mentions import NO_MENTIONS, Mentions
from notifier.render.messagecard import render_messagecard
from notifier.render.slack import render_slack
from notifier.render.teams import render_teams, render_teams_card
from notifier.render.text import render_text

# Each takes the message and the mentions of its route (operator config: the only text a renderer does not escape).
RENDERERS: Mapping[str, Callable[[Message, Mentions], Payload]] = MappingProxyType(
    {
        "slack": render_slack,
        "teams": render_teams,
        "teams-card": render_teams_card,
        "messagecard": render_messagecard,
        "text": render_text,
    }
)


class UnknownFormat(ValueError):
    """A format no renderer provides. A bug, not a config error: channel types and `render --format` offer only
    registered formats (tests/channels/test_registry.py checks every channel type's)."""


def render(format: str, message: Message, mentions: Mentions = NO_MENTIONS) -> Payload:
    try:
        renderer = RENDERERS[format]
    except KeyError:
        raise UnknownFormat(f"unknown message format {format!r}: use one of {', '.join(sorted(RENDERERS))}") from None
    return renderer(message, mentions)


__all__ = ["RENDERERS", "UnknownFormat", "render"]
