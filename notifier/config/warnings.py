"""Subscriptions that can match no Keptn event, found before any event is missed.

`sh.keptn.*` is the classic: `*` is exactly one token and every Keptn type has at least four, so it quietly
matches nothing. A pattern is checked against the shapes of Keptn's type grammar (notifier/keptn/kinds.py);
patterns outside `sh.keptn.` are for other senders (Tekton, Argo Events) and are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from notifier.keptn.kinds import SEQUENCE_PHASES, TASK_PHASES
from notifier.keptn.subjects import SubjectPattern
from notifier.suggest import closest

# One token of a shape: a literal, any token (None), or one of a set.
Token = str | frozenset[str] | None
# The last tokens a five-part `sh.keptn.event.<task>.<x>` type can end in (evaluation.invalidated,
# monitoring.configure), and a six-part one (sequences, `<task>.status.changed`, project.create.<phase>).
_FIVE_PART_ENDS = TASK_PHASES | {"invalidated", "configure"}
_SIX_PART_ENDS = SEQUENCE_PHASES | TASK_PHASES | {"changed"}
KEPTN_SHAPES: tuple[tuple[Token, ...], ...] = (
    ("sh", "keptn", "events", "problem"),
    ("sh", "keptn", "log", None),
    ("sh", "keptn", "event", None, _FIVE_PART_ENDS),
    ("sh", "keptn", "event", None, None, _SIX_PART_ENDS),
)
_KEPTN_FORMS = (
    "sh.keptn.event.<task>.<triggered|started|finished>, sh.keptn.event.<stage>.<sequence>.<triggered|finished>, "
    "sh.keptn.events.problem or sh.keptn.log.error"
)


def subscription_warnings(pubsub_topic: str, route_types: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """One warning per pattern that can match no Keptn event; `route_types` is (route name, match.types)."""
    warnings = [f"PUBSUB_TOPIC: {problem}" for problem in _problems(pubsub_topic.split(","))]
    for route, types in route_types:
        warnings += [f"route {route}: match.types: {problem}" for problem in _problems(types)]
    return warnings


def _problems(pieces: Sequence[str]) -> list[str]:
    problems = []
    for piece in pieces:
        if not piece.strip():
            continue
        pattern = SubjectPattern.parse(piece)
        if any(char.isspace() for char in pattern.text):
            problems.append(
                f"{pattern.text!r} has a space inside: event types never do, so it matches nothing; "
                "separate types with commas and tokens with dots"
            )
        elif pattern.tokens[:2] == ("sh", "keptn") and not can_match_keptn(pattern):
            meant = _suggestion(pattern)
            problems.append(
                f"{pattern.text!r} can match no Keptn event"
                + (f"; did you mean {meant!r}?" if meant else f": Keptn types look like {_KEPTN_FORMS}")
            )
    return problems


def can_match_keptn(pattern: SubjectPattern) -> bool:
    """Whether some event type of Keptn's grammar matches `pattern`."""
    return any(_unifies(pattern.tokens, shape) for shape in KEPTN_SHAPES)


def _unifies(tokens: Sequence[str], shape: Sequence[Token]) -> bool:
    for index, token in enumerate(tokens):
        if token == ">":
            return len(shape) > index
        if index >= len(shape):
            return False
        wanted = shape[index]
        if token == "*" or wanted is None:
            continue
        matched = token in wanted if isinstance(wanted, frozenset) else token == wanted
        if not matched:
            return False
    return len(tokens) == len(shape)


def _suggestion(pattern: SubjectPattern) -> str | None:
    """A nearby pattern that does match Keptn events: `sh.keptn.>` for `sh.keptn.*`, a phase for a typo."""
    head, last = pattern.tokens[:-1], pattern.tokens[-1]
    candidates = [(*head, ">")] if last == "*" else []
    phase = closest(last, sorted(_FIVE_PART_ENDS | _SIX_PART_ENDS))
    if phase is not None:
        candidates.append((*head, phase))
    for tokens in candidates:
        if any(_unifies(tokens, shape) for shape in KEPTN_SHAPES):
            return ".".join(tokens)
    return None
