"""One word, a severity and an emoji for an event: what a reader sees first."""

from __future__ import annotations

from typing import Final

from notifier.keptn.kinds import EventKind
from notifier.message import Severity

# Written by name: ruff flags the raw character as a look-alike of "i".
INFO_EMOJI: Final = "\N{INFORMATION SOURCE}\N{VARIATION SELECTOR-16}"


def describe_outcome(
    kind: EventKind, status: str, result: str, message: str, problem_state: str, needs_manual: bool
) -> tuple[str, Severity, str]:
    """Phase first: a `.triggered` event carries the previous task's result, which is not its own outcome."""
    if kind.family == "problem":
        if problem_state in ("RESOLVED", "CLOSED"):
            return "resolved", Severity.SUCCESS, "✅"
        return "open", Severity.FAILURE, "🚨"
    if kind.family == "log":
        return "error", Severity.FAILURE, "🔥"
    if status == "aborted":
        return "aborted", Severity.WARNING, "🛑"
    if kind.phase == "triggered":
        if needs_manual:
            return "awaiting approval", Severity.WARNING, "✋"
        return "triggered", Severity.INFO, "🚀"
    if kind.phase == "started":
        return "started", Severity.INFO, "⏳"
    if kind.phase == "status.changed":
        return "in progress", Severity.INFO, "🔄"
    if kind.phase == "invalidated":
        return "invalidated", Severity.WARNING, "🚫"
    if status == "errored":
        if "timed out" in message.lower() or "timeout" in message.lower():
            return "timed out", Severity.FAILURE, "⏰"
        return "errored", Severity.FAILURE, "💥"
    if result == "fail":
        return "failed", Severity.FAILURE, "❌"
    if result == "warning":
        return "warning", Severity.WARNING, "⚠️"
    if result == "pass":
        return "passed", Severity.SUCCESS, "✅"
    if status == "succeeded":
        return "succeeded", Severity.SUCCESS, "✅"
    if status == "unknown":
        return "unknown", Severity.INFO, "❔"
    if kind.phase == "finished":
        return "finished", Severity.INFO, INFO_EMOJI
    return "received", Severity.INFO, INFO_EMOJI
