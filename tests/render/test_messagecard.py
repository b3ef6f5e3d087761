"""Legacy MessageCard rendering: shape, severity colour, escaping, links, size."""

from __future__ import annotations

import json
from typing import Any

import pytest

from notifier.message import Fact, Link, Message, Severity
from notifier.render.messagecard import render_messagecard


def render_checked(message: Message) -> dict[str, Any]:
    card = render_messagecard(message)
    assert card["@type"] == "MessageCard"
    assert card["@context"] == "https://schema.org/extensions"
    assert card["summary"].strip() and card["title"].strip()
    assert len(json.dumps(card).encode()) <= 28_000
    assert len(card.get("potentialAction", [])) <= 4
    return card


@pytest.mark.parametrize(
    ("severity", "color"),
    [
        (Severity.SUCCESS, "2EB886"),
        (Severity.INFO, "439FE0"),
        (Severity.WARNING, "DAA038"),
        (Severity.FAILURE, "A30200"),
    ],
)
def test_theme_color_follows_severity(severity: Severity, color: str) -> None:
    assert render_checked(Message(title="t", severity=severity))["themeColor"] == color


def test_full_card() -> None:
    card = render_checked(
        Message(
            title="Evaluation failed (carts)",
            severity=Severity.FAILURE,
            summary="carts failed its quality gate",
            text="Score 42.\n- response time",
            facts=(Fact("Project", "sockshop"), Fact("Result", "fail")),
            links=(Link("Bridge", "https://bridge.example/"), Link("evil", "javascript:alert(1)")),
            footer="context 1",
        )
    )
    assert card["title"] == "Evaluation failed (carts)"
    assert card["summary"] == "carts failed its quality gate"
    assert card["sections"][0] == {
        "text": "Score 42.  \n\\- response time",
        "facts": [{"name": "Project", "value": "sockshop"}, {"name": "Result", "value": "fail"}],
    }
    assert card["sections"][1] == {"text": "context 1"}
    assert card["potentialAction"] == [
        {"@type": "OpenUri", "name": "Bridge", "targets": [{"os": "default", "uri": "https://bridge.example/"}]}
    ]


def test_minimal_card_has_no_empty_sections_or_actions() -> None:
    card = render_checked(Message(title="", summary="", text=" ", links=(Link("x", "data:,x"),)))
    assert card["title"] == "Info"
    assert "sections" not in card and "potentialAction" not in card


def test_hostile_markdown_is_escaped() -> None:
    card = render_checked(Message(title="[x](https://evil)", text="<at>all</at>", facts=(Fact("[a]", "(b)"),)))
    assert card["title"] == "[x\\](https://evil)"
    assert card["sections"][0]["text"] == "\\<at>all\\</at>"
    # Brackets and parentheses that make no link stay as they are.
    assert card["sections"][0]["facts"] == [{"name": "[a]", "value": "(b)"}]


def test_huge_message_fits_28000_bytes() -> None:
    worst = "😀[" * 5000
    card = render_checked(
        Message(
            title=worst,
            text=worst,
            facts=tuple(Fact(worst, worst) for _ in range(60)),
            links=tuple(Link(worst, f"https://example.com/{index}") for index in range(200)),
            footer=worst,
        )
    )
    assert card["sections"][0]["text"].endswith("…")
