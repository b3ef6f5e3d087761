"""The renderer registry: one entry per format, and a clear error for an unknown one."""

from __future__ import annotations

import pytest

from notifier.message import Message
from notifier.render import RENDERERS, UnknownFormat, render
from notifier.render.messagecard import render_messagecard
from notifier.render.slack import render_slack
from notifier.render.teams import render_teams, render_teams_card
from notifier.render.text import render_text


def test_registry_maps_each_format_to_its_renderer() -> None:
    assert dict(RENDERERS) == {
        "slack": render_slack,
        "teams": render_teams,
        "teams-card": render_teams_card,
        "messagecard": render_messagecard,
        "text": render_text,
    }


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        RENDERERS["html"] = render_text  # type: ignore[index]


def test_render_dispatches_by_format() -> None:
    message = Message(title="hello")
    assert render("text", message) == "[INFO] hello\n"
    assert render("slack", message) == render_slack(message)


def test_unknown_format_names_the_valid_ones() -> None:
    with pytest.raises(UnknownFormat, match="'html'.*messagecard, slack, teams, teams-card, text"):
        render("html", Message(title="hello"))
