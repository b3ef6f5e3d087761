"""The run message: one platform-neutral Message that shows where a Keptn run stands, rebuilt from its RunState.

It is what a Slack thread's parent is edited to; a pure function of the state, so the same state always gives
the same message (and an unchanged message needs no edit). Plain text: the renderers escape it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from notifier.keptn.details import RUN_TRACE, bridge_links
from notifier.keptn.values import duration_text, format_number
from notifier.message import Fact, Link, Message
from notifier.runs.state import (
    MAX_ERRORS,
    MAX_SEQUENCES,
    MAX_STAGES,
    MAX_TASKS,
    Alert,
    Focus,
    Headline,
    Outcome,
    ProblemState,
    Progress,
    RunState,
    SequenceState,
    StageState,
    TaskState,
)

EMOJI: Final[Mapping[Headline, str]] = MappingProxyType(
    {
        Outcome.PASSED: "✅",
        Outcome.UNKNOWN: "❔",
        Outcome.WARNING: "⚠️",
        Outcome.FAILED: "❌",
        Outcome.ABORTED: "🛑",
        Outcome.ERRORED: "💥",
        Outcome.TIMED_OUT: "⏰",
        Progress.WAITING: "⏳",
        Progress.RUNNING: "🔄",
        Progress.WAITING_FOR_APPROVAL: "✋",
        Alert.PROBLEM_OPEN: "🚨",
        Alert.REMEDIATION: "🚨",
        Alert.ERROR_LOGGED: "💥",
        Alert.PROBLEM_RESOLVED: "✅",
    }
)


def run_message(state: RunState, bridge_url: str = "") -> Message:
    """Title: the run's worst state in words (`headline`); one line per stage with its tasks; facts."""
    focus = state.focus
    headline = headline_of(state, focus)
    stages = state.stages_in_order()
    duration = duration_text(state.first_time, state.last_time)
    path = " → ".join(_name(stage) for stage in stages)
    elapsed = duration if state.done or not duration else f"{duration} so far"
    summary = " · ".join(part for part in (headline, path, elapsed) if part)
    problem = state.problem
    lines = [_problem_line(problem)] if problem is not None and problem.title else []
    lines += [_stage_line(stage) for stage in stages]
    if state.more_stages:
        lines.append(f"• … more stages than a run message keeps ({MAX_STAGES})")
    lines += [
        f"• {EMOJI[Alert.ERROR_LOGGED]} {_error_phrase(error.stage, error.task)}: {error.message}"
        for error in state.errors
    ]
    if state.more_errors:
        lines.append(f"• … more errors than a run message keeps ({MAX_ERRORS})")
    scores = [
        f"{_name(stage)} {format_number(task.score)}"
        for stage in stages
        for task in stage.tasks_in_order()
        if task.score is not None
    ]
    approvals = [_name(stage) for stage in stages if _waits_for_approval(stage)]
    facts = [
        Fact("Project", state.project),
        Fact("Service", state.service),
        Fact("Evaluation score", ", ".join(scores)),
        Fact("Approval", f"waiting in {', '.join(approvals)}" if approvals else ""),
        Fact("Duration", duration),
    ]
    trace = bridge_links(bridge_url, state.context, state.project, "").get("trace", "")
    return Message(
        title=f"{EMOJI[focus.state]} {headline}",
        severity=state.severity,
        summary=summary,
        text="\n".join(lines),
        facts=tuple(fact for fact in facts if fact.value),
        links=(Link(RUN_TRACE, trace),) if trace else (),
        footer=f"Keptn context {state.context}" if state.context else "",
        template="run",
    )


def headline_of(state: RunState, focus: Focus) -> str:
    """The run's worst state in the words a reader expects, without its emoji (docs/runs.md has the table).

    "Problem open: <title> (sockshop/carts in production)" for a problem; else "<project>/<service>: <stage>
    <sequence or task> <state>", e.g. "sockshop/carts: production delivery failed". A run that names no
    project or service is "Keptn run <8 characters of its context>".
    """
    where = "/".join(part for part in (state.project, state.service) if part) or f"Keptn run {state.context[:8]}"
    if focus.state in (Alert.PROBLEM_OPEN, Alert.PROBLEM_RESOLVED):
        title = state.problem.title if state.problem is not None else ""
        place = f"{where} in {focus.stage}" if focus.stage else where
        words = "Problem open" if focus.state is Alert.PROBLEM_OPEN else "Problem resolved"
        return f"{words}: {title} ({place})" if title else f"{words}: {place}"
    if focus.state is Alert.ERROR_LOGGED:
        return f"{where}: {_error_phrase(focus.stage, focus.name)}"
    what = " ".join(part for part in (focus.stage, focus.name) if part)
    if focus.state is Alert.REMEDIATION:
        return f"{where}: {what} started" if what else f"{where}: remediation started"
    return f"{where}: {what} {focus.state}" if what else f"{where}: {focus.state}"


def _error_phrase(stage: str, task: str) -> str:
    where = " ".join(part for part in (stage, task) if part)
    return f"error in {where}" if where else "error logged"


def _problem_line(problem: ProblemState) -> str:
    """The problem the run remediates; open until an event says it is resolved (the headline says which)."""
    if problem.resolved:
        return f"• {EMOJI[Alert.PROBLEM_RESOLVED]} problem resolved: {problem.title}"
    return f"• problem: {problem.title}"


def _stage_line(stage: StageState) -> str:
    shown = stage.shown
    line = f"• {_name(stage)} {EMOJI[shown]} {shown}"
    sequences = stage.sequences_in_order()
    if len(sequences) > 1 or stage.more_sequences:
        parts = [f"{sequence.name} {sequence.shown}{_explained(sequence)}" for sequence in sequences]
        if stage.more_sequences:
            parts.append(f"… more than {MAX_SEQUENCES} sequences")
        line += f" ({', '.join(parts)})"
    elif sequences:
        line += _explained(sequences[0])
    tasks = [_task_phrase(task) for task in stage.tasks_in_order()]
    if stage.more_tasks:
        tasks.append(f"… more than {MAX_TASKS} tasks")
    return f"{line} — {', '.join(tasks)}" if tasks else line


def _task_phrase(task: TaskState) -> str:
    shown = task.shown
    word = "waiting for a human" if shown is Progress.WAITING_FOR_APPROVAL else str(shown)
    details = [f"score {format_number(task.score)}"] if task.score is not None else []
    if task.invalidated:
        details.append("invalidated")
    details += _why(task)
    return f"{task.name} {word}" + (f" ({'; '.join(details)})" if details else "")


def _why(item: SequenceState | TaskState) -> list[str]:
    """The message of a failure or worse, quoted (the state keeps no other): it says why."""
    return [f'"{item.ending.message}"'] if item.ending is not None and item.ending.message else []


def _explained(item: SequenceState) -> str:
    return "".join(f" ({why})" for why in _why(item))


def _waits_for_approval(stage: StageState) -> bool:
    return any(task.shown is Progress.WAITING_FOR_APPROVAL for task in stage.tasks)


def _name(stage: StageState) -> str:
    return stage.name or "(no stage)"
