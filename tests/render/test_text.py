"""Console text rendering."""

from __future__ import annotations

import pytest

from notifier.message import Fact, Link, Message, Severity
from notifier.render.text import render_text


def test_full_message_reads_as_a_block() -> None:
    text = render_text(
        Message(
            title="Deployment finished",
            severity=Severity.SUCCESS,
            text="Line one\n\n• bullet",
            facts=(Fact("Project", "sockshop"), Fact("Stage", "dev\nprod")),
            links=(Link("Bridge", "https://bridge.example/"), Link("", "http://plain.example/")),
            footer="context 1",
        )
    )
    assert text == (
        "[SUCCESS] Deployment finished\n"
        "  Line one\n"
        "\n"
        "  • bullet\n"
        "  Project: sockshop\n"
        "  Stage: dev prod\n"
        "  link: Bridge <https://bridge.example/>\n"
        "  link: http://plain.example/\n"
        "  -- context 1\n"
    )


@pytest.mark.parametrize(
    ("severity", "label"),
    [
        (Severity.SUCCESS, "[SUCCESS]"),
        (Severity.INFO, "[INFO]"),
        (Severity.WARNING, "[WARNING]"),
        (Severity.FAILURE, "[FAILURE]"),
    ],
)
def test_severity_label(severity: Severity, label: str) -> None:
    assert render_text(Message(title="t", severity=severity)) == f"{label} t\n"


def test_terminal_escapes_and_forged_lines_are_neutralised() -> None:
    text = render_text(
        Message(
            title="a\x1b[2Jb\rc\u202eevil",
            text="ok\n[FAILURE] forged\x07",
            links=(Link("js", "javascript:alert(1)"),),
        )
    )
    assert text == "[INFO] a[2Jb cevil\n  ok\n  [FAILURE] forged\n"
