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

from notifier.keptn.details import approval_details
from notifier.keptn.events import KeptnEvent
from notifier.keptn.kinds import EventKind, classify
from notifier.keptn.values import mapping, number, parse_time, text
from notifier.message import Severity

STATE_VERSION: Final = 1
MAX_STAGES: Final = 10
MAX_SEQUENCES: Final = 3  # per stage
MAX_TASKS: Final = 10  # per stage
MAX_NAME: Final = 48  # project, service, stage, sequence and task names
MAX_MESSAGE: Final = 120
MAX_CONTEXT: Final = 128

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


Shown = Outcome | Progress

_RANK: Final = MappingProxyType({outcome: rank for rank, outcome in enumerate(Outcome)})
SEVERITY: Final[Mapping[Shown, Severity]] = MappingProxyType(
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
    }
)
_SEVERITY_ORDER: Final = (Severity.SUCCESS, Severity.INFO, Severity.WARNING, Severity.FAILURE)

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
_RESULT: Final = MappingProxyType(
    {
        "pass": Outcome.PASSED,
        "passed": Outcome.PASSED,
        "warning": Outcome.WARNING,
        "fail": Outcome.FAILED,
        "failed": Outcome.FAILED,
        "failure": Outcome.FAILED,
    }
)
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
        return RunState(
            context=self.context,
            project=_least(self.project, other.project),
            service=_least(self.service, other.service),
            first_time=_least(self.first_time, other.first_time),
            last_time=max(self.last_time, other.last_time),
            stages=stages,
            more_stages=self.more_stages or other.more_stages or more,
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
    def severity(self) -> Severity:
        """The worst of everything that ended and of the run's state; never success before the run is over."""
        endings = [outcome for stage in self.stages for outcome in stage.endings]
        found = max((SEVERITY[item] for item in (self.shown, *endings)), key=_SEVERITY_ORDER.index)
        return Severity.INFO if found is Severity.SUCCESS and not self.done else found

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
    if kind.family == "task":
        task = _task_of(kind, data, time)
        stage = StageState(_clip(text(data.get("stage")), MAX_NAME), time, tasks=(task,))
    elif kind.family in ("sequence", "problem") and kind.sequence:
        finished = kind.phase == "finished"
        sequence = SequenceState(_clip(kind.sequence, MAX_NAME), time, ending_of(data) if finished else None)
        stage = StageState(_clip(kind.stage, MAX_NAME), time, sequences=(sequence,))
    else:
        return RunState(context)
    return RunState(
        context,
        project=_clip(text(data.get("project")), MAX_NAME),
        service=_clip(text(data.get("service")), MAX_NAME),
        first_time=time,
        last_time=time,
        stages=(stage,),
    )


def _task_of(kind: EventKind, data: Mapping[str, Any], time: str) -> TaskState:
    name = _clip(kind.task, MAX_NAME)
    if kind.phase == "finished":
        score = number(mapping(data.get("evaluation")).get("score")) if kind.task == "evaluation" else None
        return TaskState(name, time, ("finished",), ending_of(data), score=None if score is None else round(score, 2))
    if kind.phase == "triggered":
        manual = approval_details(kind, data, text(data.get("result")).lower())["needs_manual"]
        return TaskState(name, time, ("triggered",), manual_approval=manual is True)
    return TaskState(name, time, (_PHASES[kind.phase],))


def ending_of(data: Mapping[str, Any]) -> Ending:
    """The worst of what `status`, `result` and `evaluation.result` say: a field that says failure is never hidden."""
    status = text(data.get("status")).strip().lower()
    results = (text(data.get("result")), text(mapping(data.get("evaluation")).get("result")))
    message = _clip(text(data.get("message")), MAX_MESSAGE)
    said: list[Outcome] = []
    if status:
        said.append(_STATUS.get(status, Outcome.UNKNOWN))
        if said[-1] is Outcome.ERRORED and ("timed out" in message.lower() or "timeout" in message.lower()):
            said[-1] = Outcome.TIMED_OUT
    said += [_RESULT.get(result.strip().lower(), Outcome.UNKNOWN) for result in results if result.strip()]
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
