"""One word, a severity and an emoji for an event: what a reader sees first."""

from __future__ import annotations

from typing import Final

from notifier.keptn.kinds import EventKind
from notifier.keptn.result import WorstOutcome, worst_words
from notifier.message import Severity

# Written by name: ruff flags the raw character as a look-alike of "i".
INFO_EMOJI: Final = "\N{INFORMATION SOURCE}\N{VARIATION SELECTOR-16}"


def headline(
    kind: EventKind, status: str, message: str, problem_state: str, needs_manual: bool, worst: WorstOutcome
) -> tuple[str, Severity, str]:
    """Phase first: a `.triggered` event carries the previous task's result, which is not its own outcome.

    After the phase, the worst of the outcome fields decides (notifier.verdict): never "passed" while any
    field says warning or fail.
    """
    decided = worst_words(worst, status, message)
    if kind.family == "problem":
        if problem_state in ("RESOLVED", "CLOSED"):
            return "resolved", Severity.SUCCESS, "✅"
        return "open", Severity.FAILURE, "🚨"
    if kind.family == "log":
        return "error", Severity.FAILURE, "🔥"
    if status == "aborted" and decided is not None:
        return decided
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
    if decided is not None:
        return decided
    if status == "succeeded":
        return "succeeded", Severity.SUCCESS, "✅"
    if status == "unknown":
        return "unknown", Severity.INFO, "❔"
    if kind.phase == "finished":
        return "finished", Severity.INFO, INFO_EMOJI
    return "received", Severity.INFO, INFO_EMOJI
