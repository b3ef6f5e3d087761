"""The state of one Keptn run (one `shkeptncontext`): its stages, their sequences and tasks, and how each ended.

Events arrive late, twice and out of order, and the state is kept in a store that replicas share, so the state
is a function of the *set* of events seen: `RunState.apply` joins the state with what one event says, and every
field joins by union, minimum, maximum or "the worse outcome wins". The join is commutative, associative and
idempotent, so any arrival order and any duplication give the same state. The caps keep the alphabetically
first names (a property of the name, not of the arrival), so even past a cap the result does not depend on order.

The state is a plain JSON document with a version field (`to_json`/`from_json`), bounded in size by the caps
below; docs/runs.md describes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol, TypeVar

import orjson
import pydantic

from notifier.keptn.details import approval_details, problem_details
from notifier.keptn.events import KeptnEvent
from notifier.keptn.kinds import EventKind, classify
from notifier.keptn.result import result_of
from notifier.keptn.values import mapping, number, parse_time, text
from notifier.message import Severity

STATE_VERSION: Final = 1
MAX_STAGES: Final = 10
MAX_SEQUENCES: Final = 3  # per stage
MAX_TASKS: Final = 10  # per stage
MAX_NAME: Final = 48  # project, service, stage, sequence and task names
MAX_MESSAGE: Final = 120
MAX_CONTEXT: Final = 128
MAX_ERRORS: Final = 3  # `sh.keptn.log.error` messages per run

Phase = Literal["triggered", "started", "status.changed", "finished", "invalidated"]


class Outcome(StrEnum):
    """How a task or sequence finished, from better to worse: the order in which "the worse wins"."""

    PASSED = "passed"
    UNKNOWN = "unknown"
    WARNING = "warning"
    FAILED = "failed"
    ABORTED = "aborted"
    ERRORED = "errored"
    TIMED_OUT = "timed out"


class Progress(StrEnum):
    """Where something stands that has not finished."""

    WAITING = "waiting"
    RUNNING = "running"
    WAITING_FOR_APPROVAL = "waiting for approval"


class Alert(StrEnum):
    """What problem, remediation and error events make a run show, beside how its tasks and sequences stand."""

    PROBLEM_OPEN = "problem open"
    REMEDIATION = "remediation started"
    ERROR_LOGGED = "error logged"
    # Not an alarm: the all-clear of one.
    PROBLEM_RESOLVED = "problem resolved"


Shown = Outcome | Progress
# What the run message's headline can say: a stage's state, or an alert.
Headline = Shown | Alert

_RANK: Final = MappingProxyType({outcome: rank for rank, outcome in enumerate(Outcome)})
# Which state heads the run message when the run has several: the most urgent (a higher number). States not
# here (passed, unknown, running, waiting) need nobody and head it only when nothing else does.
URGENCY: Final[Mapping[Headline, int]] = MappingProxyType(
    {
        Alert.PROBLEM_OPEN: 10,
        Outcome.TIMED_OUT: 9,
        Outcome.ERRORED: 8,
        Outcome.ABORTED: 7,
        Outcome.FAILED: 6,
        Alert.ERROR_LOGGED: 5,
        Alert.REMEDIATION: 4,
        Progress.WAITING_FOR_APPROVAL: 3,
        Outcome.WARNING: 2,
        Alert.PROBLEM_RESOLVED: 1,
    }
)
SEVERITY: Final[Mapping[Headline, Severity]] = MappingProxyType(
    {
        Outcome.PASSED: Severity.SUCCESS,
        Outcome.UNKNOWN: Severity.INFO,
        Outcome.WARNING: Severity.WARNING,
        Outcome.FAILED: Severity.FAILURE,
        # An abort ends the run without a delivery (and Keptn reports it with result `fail`).
        Outcome.ABORTED: Severity.FAILURE,
        Outcome.ERRORED: Severity.FAILURE,
        Outcome.TIMED_OUT: Severity.FAILURE,
        Progress.WAITING: Severity.INFO,
        Progress.RUNNING: Severity.INFO,
        # A human has to act.
        Progress.WAITING_FOR_APPROVAL: Severity.WARNING,
        Alert.PROBLEM_OPEN: Severity.FAILURE,
        Alert.REMEDIATION: Severity.FAILURE,
        Alert.ERROR_LOGGED: Severity.FAILURE,
        Alert.PROBLEM_RESOLVED: Severity.SUCCESS,
    }
)

_STATUS: Final = MappingProxyType(
    {
        "succeeded": Outcome.PASSED,
        "success": Outcome.PASSED,
        "unknown": Outcome.UNKNOWN,
        "aborted": Outcome.ABORTED,
        "errored": Outcome.ERRORED,
        "error": Outcome.ERRORED,
    }
)
# The grades `verdict.result_of` reads from the result fields; any other word it passes on is unknown.
_RESULT: Final = MappingProxyType({"pass": Outcome.PASSED, "warning": Outcome.WARNING, "fail": Outcome.FAILED})
_PHASES: Final[Mapping[str, Phase]] = MappingProxyType(
    {"started": "started", "status.changed": "status.changed", "invalidated": "invalidated"}
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class RunStateError(ValueError):
    """A run state that cannot be built or loaded; the text says what is wrong and what to do."""


@dataclass(frozen=True, slots=True)
class Ending:
    """The worst outcome the `.finished` events of one task or sequence reported, with that event's message."""

    outcome: Outcome
    # Only kept for a failure or worse, where it says why; a pass or a warning speaks for itself.
    message: str = ""


@dataclass(frozen=True, slots=True)
class TaskState:
    name: str
    first_time: str = ""
    phases: tuple[Phase, ...] = ()
    ending: Ending | None = None
    # An approval.triggered asked for a human (its result's strategy is `manual`).
    manual_approval: bool = False
    # The evaluation score, rounded to 2 decimals; the lowest when a stage evaluated twice.
    score: float | None = None

    @property
    def shown(self) -> Shown:
        if self.ending is not None:
            return self.ending.outcome
        if self.manual_approval:
            return Progress.WAITING_FOR_APPROVAL
        if "started" in self.phases or "status.changed" in self.phases:
            return Progress.RUNNING
        if "invalidated" in self.phases:  # it finished (we missed how), then someone invalidated it
            return Outcome.UNKNOWN
        return Progress.WAITING

    @property
    def invalidated(self) -> bool:
        return "invalidated" in self.phases


@dataclass(frozen=True, slots=True)
class SequenceState:
    name: str
    first_time: str = ""
    ending: Ending | None = None  # None: seen only as triggered

    @property
    def shown(self) -> Shown:
        return Progress.RUNNING if self.ending is None else self.ending.outcome


@dataclass(frozen=True, slots=True)
class StageState:
    name: str
    first_time: str = ""
    sequences: tuple[SequenceState, ...] = ()
    tasks: tuple[TaskState, ...] = ()
    more_sequences: bool = False
    more_tasks: bool = False

    @property
    def endings(self) -> list[Outcome]:
        """How each sequence and task that finished ended."""
        items: list[SequenceState | TaskState] = [*self.sequences, *self.tasks]
        return [item.ending.outcome for item in items if item.ending is not None]

    @property
    def done(self) -> bool:
        """Over when every sequence seen in the stage has finished; only a sequence's `.finished` says so."""
        return bool(self.sequences) and all(sequence.ending is not None for sequence in self.sequences)

    @property
    def shown(self) -> Shown:
        endings = self.endings
        if self.done:
            return worst(endings)
        shown = [task.shown for task in self.tasks]
        if Progress.WAITING_FOR_APPROVAL in shown:
            return Progress.WAITING_FOR_APPROVAL
        if self.sequences or not endings or any(isinstance(item, Progress) for item in shown):
            return Progress.RUNNING
        # Only task events seen (sequence events not subscribed), all finished: what they say. `done` stays False.
        return worst(endings)

    def tasks_in_order(self) -> tuple[TaskState, ...]:
        return tuple(sorted(self.tasks, key=lambda task: _time_order(task.first_time, task.name)))

    def sequences_in_order(self) -> tuple[SequenceState, ...]:
        return tuple(sorted(self.sequences, key=lambda sequence: _time_order(sequence.first_time, sequence.name)))


@dataclass(frozen=True, slots=True)
class ProblemState:
    """The problem a run remediates (`sh.keptn.events.problem`, or `data.problem` of `remediation.triggered`).

    Resolved is for good: once an event says RESOLVED the problem stays resolved, whatever came before.
    """

    title: str = ""
    stage: str = ""
    open: bool = False
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class LogError:
    """One `sh.keptn.log.error` of the run: where it was logged and what it says."""

    stage: str
    task: str
    message: str


@dataclass(frozen=True, slots=True)
class Focus:
    """The run's worst state, which the run message's headline says, and what it is about."""

    state: Headline
    stage: str = ""
    # The sequence or task the state is about (for a logged error, the task that logged it).
    name: str = ""


@dataclass(frozen=True, slots=True)
class RunState:
    """Everything the run message shows about one run. Build one with `RunState(context).apply(event)`."""

    context: str
    version: int = STATE_VERSION
    project: str = ""
    service: str = ""
    first_time: str = ""
    last_time: str = ""
    stages: tuple[StageState, ...] = ()  # sorted by name: the document is canonical
    more_stages: bool = False
    problem: ProblemState | None = None
    errors: tuple[LogError, ...] = ()  # sorted, the first MAX_ERRORS
    more_errors: bool = False

    def apply(self, event: KeptnEvent) -> RunState:
        """This state joined with what `event` says. Events that are not task or sequence events change nothing."""
        context = _clip(event.keptn_context, MAX_CONTEXT)
        if context != self.context:
            raise RunStateError(
                f"event {event.id!r} belongs to Keptn context {context!r}, not to the run {self.context!r}: "
                "keep one run state per shkeptncontext"
            )
        return self.merge(observe(event))

    def merge(self, other: RunState) -> RunState:
        """The join of two states of the same run: what a run that saw the events of both would hold."""
        if other.context != self.context:
            raise RunStateError(f"cannot merge the runs {self.context!r} and {other.context!r}")
        stages, more = _join_named(self.stages, other.stages, _join_stage, MAX_STAGES)
        errors = sorted({*self.errors, *other.errors}, key=lambda error: (error.stage, error.task, error.message))
        return RunState(
            context=self.context,
            project=_least(self.project, other.project),
            service=_least(self.service, other.service),
            first_time=_least(self.first_time, other.first_time),
            last_time=max(self.last_time, other.last_time),
            stages=stages,
            more_stages=self.more_stages or other.more_stages or more,
            problem=_join_problem(self.problem, other.problem),
            errors=tuple(errors[:MAX_ERRORS]),
            more_errors=self.more_errors or other.more_errors or len(errors) > MAX_ERRORS,
        )

    @property
    def done(self) -> bool:
        """Every stage seen is over. A later stage's events (the next sequence in the shipyard) reopen the run."""
        return bool(self.stages) and all(stage.done for stage in self.stages)

    @property
    def shown(self) -> Shown:
        if self.done:
            return worst(stage.shown for stage in self.stages)
        if not self.stages:
            return Progress.WAITING
        if any(stage.shown is Progress.WAITING_FOR_APPROVAL for stage in self.stages):
            return Progress.WAITING_FOR_APPROVAL
        return Progress.RUNNING

    @property
    def focus(self) -> Focus:
        """The run's worst state: the most urgent thing a person must act on (URGENCY), else how the run stands.

        An open problem heads the run until it is resolved or the run is over (its remediation finished); then
        the remediation's outcome speaks. Among states equally urgent a later stage wins over an earlier one (it
        is the newer news) and a sequence over a task (the larger unit). Passed only when the run is over.
        """
        problem = self.problem
        done = self.done
        if problem is not None and problem.open and not problem.resolved and not done:
            return Focus(Alert.PROBLEM_OPEN, problem.stage)
        resolved = problem is not None and problem.resolved
        found: list[tuple[int, int, int, int, Focus]] = []
        stages = self.stages_in_order()
        for place, stage in enumerate(stages):
            for order, sequence in enumerate(stage.sequences_in_order()):
                shown: Headline = sequence.shown
                if sequence.ending is None and sequence.name == "remediation" and not resolved:
                    shown = Alert.REMEDIATION
                found.append((URGENCY.get(shown, 0), place, 1, order, Focus(shown, stage.name, sequence.name)))
            for order, task in enumerate(stage.tasks_in_order()):
                shown = task.shown
                # An approval waits within its sequence ("production delivery waiting for approval"), if known.
                name = _running_sequence(stage) if shown is Progress.WAITING_FOR_APPROVAL else task.name
                found.append((URGENCY.get(shown, 0), place, 0, order, Focus(shown, stage.name, name)))
        for order, error in enumerate(self.errors):
            logged = Focus(Alert.ERROR_LOGGED, error.stage, error.task)
            found.append((URGENCY[logged.state], -1, 0, order, logged))
        if problem is not None and resolved:
            all_clear = Focus(Alert.PROBLEM_RESOLVED, problem.stage)
            found.append((URGENCY[all_clear.state], -1, 0, 0, all_clear))
        urgent = max(found, key=lambda item: item[:4], default=None)
        if urgent is not None and urgent[0] > 0:
            return urgent[4]
        if not stages:
            return Focus(Progress.WAITING)
        if done:
            outcome = worst(stage.shown for stage in stages)
            stage = [stage for stage in stages if stage.shown is outcome][-1]
            items: list[TaskState | SequenceState] = [*stage.tasks_in_order(), *stage.sequences_in_order()]
            named = [item.name for item in items if item.shown is outcome]
            return Focus(outcome, stage.name, named[-1] if named else "")
        stage = ([stage for stage in stages if isinstance(stage.shown, Progress)] or list(stages))[-1]
        running = _running_sequence(stage)
        if running:
            return Focus(Progress.RUNNING, stage.name, running)
        tasks = [task for task in stage.tasks_in_order() if isinstance(task.shown, Progress)]
        # Only task events seen: the task in progress (waiting or running), else the stage runs on.
        return Focus(tasks[-1].shown, stage.name, tasks[-1].name) if tasks else Focus(Progress.RUNNING, stage.name)

    @property
    def severity(self) -> Severity:
        """The severity of the run's worst state (`focus`): never success before the run is over (or its
        problem resolved)."""
        return SEVERITY[self.focus.state]

    @property
    def duration_seconds(self) -> float | None:
        began, ended = parse_time(self.first_time), parse_time(self.last_time)
        return None if began is None or ended is None else (ended - began).total_seconds()

    def stages_in_order(self) -> tuple[StageState, ...]:
        """Stages in the order the run reached them (their first event's time), then by name."""
        return tuple(sorted(self.stages, key=lambda stage: _time_order(stage.first_time, stage.name)))

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @staticmethod
    def from_json(document: bytes | str) -> RunState:
        """Load a document `to_json` wrote. Raises RunStateError for a corrupt or unknown-version document."""
        try:
            loaded = orjson.loads(document)
        except orjson.JSONDecodeError as exc:
            raise RunStateError(f"the run state is not valid JSON ({exc}); delete it to start the run afresh") from None
        version = loaded.get("version") if isinstance(loaded, dict) else None
        if version != STATE_VERSION:
            raise RunStateError(
                f"the run state has version {version!r}; this notifier reads version {STATE_VERSION}: "
                "run the notifier that wrote it, or delete the state to start the run afresh"
            )
        try:
            state = _ADAPTER.validate_python(loaded)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise RunStateError(
                f"the run state is malformed at {where or 'the top'}: {first['msg']}; delete it to start afresh"
            ) from None
        # Joined with itself (a no-op for a document written here): sorted, duplicates joined, lists within their caps.
        return state.merge(state)


_ADAPTER: Final = pydantic.TypeAdapter(RunState)


def _running_sequence(stage: StageState) -> str:
    """The sequence of the stage that runs now (the one that began last), or ""."""
    running = [sequence.name for sequence in stage.sequences_in_order() if sequence.ending is None]
    return running[-1] if running else ""


def needs_a_person(event: KeptnEvent) -> Headline | None:
    """What the event says that a person must act on, or None: the one definition behind both the default
    broadcast (routing) and what heads the run message (`RunState.focus` ranks the same states).

    Failed, errored, aborted or timed-out tasks and sequences (the worst of `status` and every result field,
    as `ending_of` reads them; for other events the same fields, any phase but `.triggered`); a quality gate
    (evaluation) with a warning; an approval waiting for a human; an open problem; a remediation started;
    `sh.keptn.log.error`. The result a `.triggered` event carries is the previous task's (Keptn copies it
    forward), not an alarm; remediation.triggered is one by its type.
    """
    data = event.data if isinstance(event.data, Mapping) else {}
    kind = classify(event.type, data)
    if kind.family == "log":
        return Alert.ERROR_LOGGED if kind.phase == "error" else None
    problem = _problem_of(kind, data)
    if problem is not None:  # a resolved problem (or one that does not say) needs nobody
        return Alert.PROBLEM_OPEN if problem.open else None
    if kind.sequence == "remediation" and kind.phase == "triggered":
        return Alert.REMEDIATION
    if kind.phase == "triggered":
        return Progress.WAITING_FOR_APPROVAL if _needs_manual(kind, data) else None
    if kind.family in ("task", "sequence") and kind.phase != "finished":
        return None  # only a `.finished` says how a task or sequence ended (as the run state reads it)
    outcome = ending_of(data).outcome
    if _RANK[outcome] >= _RANK[Outcome.FAILED]:
        return outcome
    if outcome is Outcome.WARNING and kind.family == "task" and kind.task == "evaluation":
        return outcome
    return None


def run_of(events: Iterable[KeptnEvent]) -> RunState:
    """The state of the run the events belong to (the first event's context); every event must share it."""
    state: RunState | None = None
    for event in events:
        state = (state or RunState(_clip(event.keptn_context, MAX_CONTEXT))).apply(event)
    if state is None:
        raise RunStateError("a run needs at least one event")
    return state


def observe(event: KeptnEvent) -> RunState:
    """What one event says about its run: the state of a run that saw only this event."""
    context = _clip(event.keptn_context, MAX_CONTEXT)
    data = event.data if isinstance(event.data, Mapping) else {}
    kind = classify(event.type, data)
    parsed = parse_time(event.time)
    time = parsed.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z" if parsed else ""
    stages: tuple[StageState, ...] = ()
    errors: tuple[LogError, ...] = ()
    problem = _problem_of(kind, data)
    if kind.family == "task":
        task = _task_of(kind, data, time)
        stages = (StageState(_clip(text(data.get("stage")), MAX_NAME), time, tasks=(task,)),)
    elif kind.family in ("sequence", "problem") and kind.sequence:
        finished = kind.phase == "finished"
        sequence = SequenceState(_clip(kind.sequence, MAX_NAME), time, ending_of(data) if finished else None)
        stages = (StageState(_clip(kind.stage, MAX_NAME), time, sequences=(sequence,)),)
    elif kind.family == "log" and kind.phase == "error":
        where, doing = (_clip(text(data.get(key)), MAX_NAME) for key in ("stage", "task"))
        errors = (LogError(where, doing, _clip(text(data.get("message")), MAX_MESSAGE)),)
    elif problem is None:
        return RunState(context)
    return RunState(
        context,
        project=_clip(text(data.get("project")), MAX_NAME),
        service=_clip(text(data.get("service")), MAX_NAME),
        first_time=time,
        last_time=time,
        stages=stages,
        problem=problem,
        errors=errors,
    )


def _problem_of(kind: EventKind, data: Mapping[str, Any]) -> ProblemState | None:
    """The problem a problem event (legacy, or a remediation that carries one) reports; None for other events.

    A legacy `sh.keptn.events.problem` is open when its State says OPEN; a remediation is triggered for an
    open problem, so its problem is open unless it says RESOLVED (or CLOSED).
    """
    if kind.family != "problem":
        return None
    details = problem_details(data, legacy=not kind.sequence)
    state = details["state"]
    resolved = state in ("RESOLVED", "CLOSED")
    is_open = state == "OPEN" if not kind.sequence else not resolved
    stage = _clip(kind.stage or text(data.get("stage")), MAX_NAME)
    return ProblemState(_clip(details["title"], MAX_MESSAGE), stage, is_open, resolved)


def _task_of(kind: EventKind, data: Mapping[str, Any], time: str) -> TaskState:
    name = _clip(kind.task, MAX_NAME)
    if kind.phase == "finished":
        score = number(mapping(data.get("evaluation")).get("score")) if kind.task == "evaluation" else None
        return TaskState(name, time, ("finished",), ending_of(data), score=None if score is None else round(score, 2))
    if kind.phase == "triggered":
        return TaskState(name, time, ("triggered",), manual_approval=_needs_manual(kind, data))
    return TaskState(name, time, (_PHASES[kind.phase],))


def _needs_manual(kind: EventKind, data: Mapping[str, Any]) -> bool:
    return approval_details(kind, data, text(data.get("result")).lower())["needs_manual"]


def ending_of(data: Mapping[str, Any]) -> Ending:
    """The worst of what `status` and the result fields say: a field that says failure is never hidden."""
    status = text(data.get("status")).strip().lower()
    # The worst result any field reports (result, evaluation.result, the SLIs), as routes compare it.
    result = result_of(data)
    message = _clip(text(data.get("message")), MAX_MESSAGE)
    said: list[Outcome] = []
    if status:
        said.append(_STATUS.get(status, Outcome.UNKNOWN))
        if said[-1] is Outcome.ERRORED and ("timed out" in message.lower() or "timeout" in message.lower()):
            said[-1] = Outcome.TIMED_OUT
    if result:
        said.append(_RESULT.get(result, Outcome.UNKNOWN))
    outcome = worst(said) if said else Outcome.UNKNOWN
    return Ending(outcome, message if _RANK[outcome] >= _RANK[Outcome.FAILED] else "")


def worst(outcomes: Iterable[Shown]) -> Outcome:
    """The worst finished outcome among `outcomes` (progress states are skipped); UNKNOWN when none finished."""
    finished = [outcome for outcome in outcomes if isinstance(outcome, Outcome)]
    return max(finished, key=_RANK.__getitem__) if finished else Outcome.UNKNOWN


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def _join_named(
    mine: tuple[N, ...], theirs: tuple[N, ...], join: Callable[[N, N], N], cap: int
) -> tuple[tuple[N, ...], bool]:
    """Union by name, joining entries of the same name; past `cap` the alphabetically last names are dropped."""
    by_name: dict[str, N] = {}
    for item in (*mine, *theirs):
        known = by_name.get(item.name)
        by_name[item.name] = item if known is None else join(known, item)
    names = sorted(by_name)
    return tuple(by_name[name] for name in names[:cap]), len(names) > cap


def _join_stage(a: StageState, b: StageState) -> StageState:
    sequences, more_sequences = _join_named(a.sequences, b.sequences, _join_sequence, MAX_SEQUENCES)
    tasks, more_tasks = _join_named(a.tasks, b.tasks, _join_task, MAX_TASKS)
    return StageState(
        a.name,
        _least(a.first_time, b.first_time),
        sequences,
        tasks,
        more_sequences=a.more_sequences or b.more_sequences or more_sequences,
        more_tasks=a.more_tasks or b.more_tasks or more_tasks,
    )


def _join_sequence(a: SequenceState, b: SequenceState) -> SequenceState:
    return replace(
        a,
        first_time=_least(a.first_time, b.first_time),
        ending=_join_ending(a.ending, b.ending),
    )


def _join_task(a: TaskState, b: TaskState) -> TaskState:
    scores = [score for score in (a.score, b.score) if score is not None]
    return replace(
        a,
        first_time=_least(a.first_time, b.first_time),
        phases=tuple(sorted({*a.phases, *b.phases})),
        ending=_join_ending(a.ending, b.ending),
        manual_approval=a.manual_approval or b.manual_approval,
        score=min(scores) if scores else None,
    )


def _join_problem(a: ProblemState | None, b: ProblemState | None) -> ProblemState | None:
    if a is None or b is None:
        return a or b
    return ProblemState(_least(a.title, b.title), _least(a.stage, b.stage), a.open or b.open, a.resolved or b.resolved)


def _join_ending(a: Ending | None, b: Ending | None) -> Ending | None:
    if a is None or b is None:
        return a or b
    return max(a, b, key=lambda ending: (_RANK[ending.outcome], ending.message))


def _least(a: str, b: str) -> str:
    """The smaller of two texts, empty meaning unknown: the earliest time, or (should events of one run ever
    disagree on project or service) the same name whatever the order."""
    return min(a, b) if a and b else a or b


def _time_order(time: str, name: str) -> tuple[bool, str, str]:
    return (not time, time, name)


def _clip(value: str, limit: int) -> str:
    """One line of at most `limit` characters: names and messages are shown inline, one line per stage."""
    flat = " ".join(_CONTROL.sub(" ", value).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
