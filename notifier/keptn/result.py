"""The worst outcome an event reports, taken from every field that reports one.

Keptn writes an outcome in several places: `data.result`, `data.status`, `data.evaluation.result`, each
SLI's `status` and its targets' `violated`. Real events disagree (Keptn's own example of
`evaluation.finished` says `result: pass` next to `evaluation.result: fail`), so a message that trusted one
field would call a failed quality gate "passed". Here every field gets its say, the worst one wins, and a
message can say when the fields disagree. Pure functions over the event's `data`: no template, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, TypedDict

from notifier.message import Severity

Grade = Literal["pass", "warning", "fail"]
# How an SLI counts: its grade pass, warning or fail (passed, warned, missed), or no grade: `info`
# (informational, no pass criteria) or no status that its targets do not contradict (no_status).
Counted = Literal["passed", "warned", "missed", "informational", "no_status"]
COUNTED: Final[tuple[Counted, ...]] = ("passed", "warned", "missed", "informational", "no_status")

_RANK: Final = MappingProxyType({"pass": 0, "warning": 1, "fail": 2})
# Keptn writes pass|warning|fail; other producers spell them differently. Unknown words are no verdict.
RESULT_GRADES: Final[Mapping[str, Grade]] = MappingProxyType(
    {
        "pass": "pass",
        "passed": "pass",
        "warning": "warning",
        "fail": "fail",
        "failed": "fail",
        "failure": "fail",
        "error": "fail",
        "errored": "fail",
    }
)
# `status` says whether the task ran: `succeeded` and `unknown` tell nothing about the outcome.
STATUS_GRADES: Final[Mapping[str, Grade]] = MappingProxyType({"errored": "fail", "aborted": "warning"})
# An SLI's own status is read with RESULT_GRADES: lighthouse writes pass, warning, fail and info, and `error`
# (which it never writes) is a failure, as `data.result: error` is. `info` and any other word grade nothing.
INFO: Final = "info"


class VerdictContext(TypedDict):
    """What templates see as `verdict`."""

    worst: str
    disagree: bool
    note: str
    passed: int
    informational: int
    # Failed: the status says fail (or error...), or a pass target is violated with no warning target holding.
    missed: int
    warned: int
    no_status: int


@dataclass(frozen=True, slots=True)
class Said:
    """What one field says about the outcome, e.g. ("evaluation result", "fail", "fail")."""

    field: str
    said: str
    grade: Grade


@dataclass(frozen=True, slots=True)
class SliVerdict:
    """How one SLI counts, with its grade (None for informational and no status)."""

    counted: Counted
    grade: Grade | None
    # Set when the targets say worse than the SLI's own status ("pass, but a pass target is violated").
    note: str = ""


@dataclass(frozen=True, slots=True)
class WorstOutcome:
    """Every field's claim, the worst of them (None when no field says anything), and the SLI counts."""

    grade: Grade | None
    claims: tuple[Said, ...]
    passed: int = 0
    informational: int = 0
    missed: int = 0
    warned: int = 0
    no_status: int = 0

    @property
    def disagree(self) -> bool:
        """One field says pass while another does not, or the outcome fields name different outcomes.

        `status` is about how the task ended (errored, aborted): it is worse than a `fail` result without
        contradicting it, so it only disagrees with a field that says pass.
        """
        grades = {claim.grade for claim in self.claims}
        outcomes = {claim.grade for claim in self.claims if claim.field != "status"}
        return ("pass" in grades and len(grades) > 1) or len(outcomes) > 1

    @property
    def note(self) -> str:
        """One sentence for the message when the fields disagree, else empty."""
        if not self.disagree or self.grade is None:
            return ""
        said = "; ".join(f"{claim.field}: {claim.said}" for claim in self.claims)
        return f"The event's outcome fields disagree ({said}). This message shows the worst: {self.grade}."

    def as_context(self) -> VerdictContext:
        note = self.note
        return {
            "worst": self.grade or "",
            # The same as `disagree`, read once: without a grade there is no claim, so nothing to disagree.
            "disagree": bool(note),
            "note": note,
            "passed": self.passed,
            "informational": self.informational,
            "missed": self.missed,
            "warned": self.warned,
            "no_status": self.no_status,
        }


def sli_verdicts(data: Mapping[str, Any]) -> list[SliVerdict]:
    """How each SLI of `data.evaluation.indicatorResults` counts, in order (entries that are no object skipped)."""
    evaluation = data.get("evaluation")
    indicators = evaluation.get("indicatorResults") if isinstance(evaluation, Mapping) else None
    items = indicators if isinstance(indicators, list) else []
    return [sli_verdict(item) for item in items if isinstance(item, Mapping)]


def worst_outcome(data: Mapping[str, Any], slis: Sequence[SliVerdict] | None = None) -> WorstOutcome:
    """Collect each field's claim about the outcome and keep the worst. Never raises.

    `slis`: `sli_verdicts(data)`, when the caller has them already (the template context reads them once).
    """
    claims: list[Said] = []
    result = _word(data.get("result"))
    if result in RESULT_GRADES:
        claims.append(Said("result", result, RESULT_GRADES[result]))
    status = _word(data.get("status"))
    if status in STATUS_GRADES:
        claims.append(Said("status", status, STATUS_GRADES[status]))
    evaluation = data.get("evaluation")
    evaluation = evaluation if isinstance(evaluation, Mapping) else {}
    evaluation_result = _word(evaluation.get("result"))
    if evaluation_result in RESULT_GRADES:
        claims.append(Said("evaluation result", evaluation_result, RESULT_GRADES[evaluation_result]))
    if slis is None:
        slis = sli_verdicts(data)
    counts = dict.fromkeys(COUNTED, 0)
    for sli in slis:
        counts[sli.counted] += 1
    graded = [sli.grade for sli in slis if sli.grade is not None]
    if graded:
        claims.append(Said("SLIs", _slis_said(counts, len(slis)), worst_of(graded)))
    grade = worst_of(claim.grade for claim in claims) if claims else None
    return WorstOutcome(grade, tuple(claims), **counts)


def _slis_said(counts: Mapping[Counted, int], total: int) -> str:
    """`1 of 5 missed, 1 warned`, `1 of 3 warned`, `all 3 passed`, `2 of 4 passed`."""
    missed, warned, passed = counts["missed"], counts["warned"], counts["passed"]
    if missed and warned:
        return f"{missed} of {total} missed, {warned} warned"
    if missed or warned:
        return f"{missed or warned} of {total} {'missed' if missed else 'warned'}"
    return f"all {passed} passed" if passed + counts["informational"] == total else f"{passed} of {total} passed"


def sli_verdict(item: Mapping[str, Any]) -> SliVerdict:
    """The worse of what an SLI's status says and what its targets say (`targets_grade`).

    Without a grade from either, an `info` SLI is informational and any other (no status, an unknown word, or a
    status its holding targets do not contradict) has no status: neither a pass nor a miss.
    """
    word = _word(item.get("status"))
    stated = RESULT_GRADES.get(word)
    derived = targets_grade(item)
    if stated is None and derived in (None, "pass"):
        return SliVerdict("informational" if word == INFO else "no_status", None)
    grade = worst_of(grade for grade in (stated, derived) if grade is not None)
    note = ""
    if derived is not None and derived != "pass" and (stated is None or _RANK[derived] > _RANK[stated]):
        targets = "a pass and a warning target are" if _any_violated(item, "warningTargets") else "a pass target is"
        note = f"{word or 'no status'}, but {targets} violated"
    return SliVerdict(_COUNTED_AS[grade], grade, note)


_COUNTED_AS: Final[Mapping[Grade, Counted]] = MappingProxyType(
    {"pass": "passed", "warning": "warned", "fail": "missed"}
)


def targets_grade(item: Mapping[str, Any]) -> Grade | None:
    """What an SLI's targets say, as Keptn's lighthouse sets an SLI's status from them; None without pass targets.

    Lighthouse: pass criteria met is `pass` (warning criteria are not looked at); else warning criteria that
    exist and are met are `warning`; else `fail`. An event lists the targets flat, each with `violated`, so a
    pass target violated is a missed pass criterion, and warning criteria are met when every warning target
    holds. (Criteria given as several alternative sets in the SLO file cannot be told apart here: any violated
    target counts.)
    """
    if not _targets(item.get("passTargets")):
        return None
    if not _any_violated(item, "passTargets"):
        return "pass"
    if _targets(item.get("warningTargets")) and not _any_violated(item, "warningTargets"):
        return "warning"
    return "fail"


def _any_violated(item: Mapping[str, Any], key: str) -> bool:
    return any(_is_true(target.get("violated")) for target in _targets(item.get(key)))


def worst_of(grades: Any) -> Grade:
    """The worst of one or more grades."""
    worst: Grade = "pass"
    for grade in grades:
        if _RANK[grade] > _RANK[worst]:
            worst = grade
    return worst


def worst_words(worst: WorstOutcome, status: str, message: str) -> tuple[str, Severity, str] | None:
    """The outcome word, severity and emoji for the worst grade; None when no field says anything.

    The word keeps what `status` adds (errored, timed out, aborted) but never softens the grade.
    """
    if worst.grade == "fail":
        if status == "errored":
            lowered = message.lower()
            if "timed out" in lowered or "timeout" in lowered:
                return "timed out", Severity.FAILURE, "⏰"
            return "errored", Severity.FAILURE, "💥"
        if status == "aborted":
            return "aborted", Severity.FAILURE, "🛑"
        return "failed", Severity.FAILURE, "❌"
    if worst.grade == "warning":
        if status == "aborted":
            return "aborted", Severity.WARNING, "🛑"
        return "warning", Severity.WARNING, "⚠️"
    if worst.grade == "pass":
        return "passed", Severity.SUCCESS, "✅"
    return None


def _word(value: object) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def _targets(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _is_true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def result_of(data: Mapping[str, Any]) -> str:
    """The result routes, filters and repeat keys compare: the worst that a result field, the evaluation or an SLI
    says (so a route for failures gets the event whose message says failed), else `data.result` as written.

    The worst of `worst_outcome`'s claims but `status`, without building them: it runs for every repeat key and
    route that compares results, and stops at the first failure.
    """
    worst: Grade | None = None
    evaluation = data.get("evaluation")
    evaluation = evaluation if isinstance(evaluation, Mapping) else {}
    for value in (data.get("result"), evaluation.get("result")):
        grade = RESULT_GRADES.get(_word(value))
        if grade is not None and (worst is None or _RANK[grade] > _RANK[worst]):
            worst = grade
    indicators = evaluation.get("indicatorResults")
    if worst != "fail" and isinstance(indicators, list):
        for item in indicators:
            grade = sli_verdict(item).grade if isinstance(item, Mapping) else None
            if grade is not None and (worst is None or _RANK[grade] > _RANK[worst]):
                worst = grade
                if worst == "fail":
                    break
    return worst if worst is not None else _word(data.get("result"))
