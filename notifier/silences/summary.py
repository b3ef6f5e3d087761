"""What a silence muted, said once per channel when it ends: the summary event and its message.

Each muted notification is counted by kind: what it was about and how that went, as its message would have said
("Evaluation", "failed"). When the silence ends, one event holds the silence and its counts; the outbox stores a
notification of it for each channel that had muted notifications, under a dedup key of the silence's own, so
that replicas that all see the end store it once. The composer makes the message from the event's data, per
channel: "While muted by maintenance, alice: 14 notifications: 3 evaluations failed, ...".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from notifier.keptn.context import template_context
from notifier.keptn.events import KeptnEvent
from notifier.message import Fact, Message, Severity
from notifier.silences.silence import described, timestamp
from notifier.store.protocol import Incoming, MutedCount, Outgoing, SilenceRecord

# The summary event's type and source (no Keptn event is of this type: it never meets a route).
SUMMARY_TYPE: Final = "keptn-notifier.silence.ended"
SOURCE: Final = "keptn-notifier"
# The note its notifications carry: the worker renders them as summaries and never mutes them.
SUMMARY_NOTE: Final = "silence-summary"
# Kinds named in a summary; the rest are counted together.
MAX_KINDS = 6
_RANK = {Severity.FAILURE.value: 3, Severity.WARNING.value: 2, Severity.INFO.value: 1, Severity.SUCCESS.value: 0}
_FAMILY_NOUNS = {"problem": "Problem", "log": "Error log"}


def kind_of(event: KeptnEvent) -> str:
    """`Evaluation/failed/failure`: what the event's message is about, its outcome and severity, as the message
    would have said them (the template context's words)."""
    context = template_context(event)
    family = context["kind"]["family"]
    noun = context["task_label"] or _FAMILY_NOUNS.get(family, "Event")
    return f"{noun}/{context['outcome']}/{context['severity']}"


def summary_event(silence: SilenceRecord, counts: Sequence[MutedCount], now: float) -> Incoming:
    """The event that stands for what the silence muted, with a notification for each channel it muted in."""
    muted: dict[str, dict[str, int]] = {}
    for count in counts:
        muted.setdefault(count.channel, {})[count.kind] = count.count
    event_id = f"silence-{silence.id}"
    body = {
        "specversion": "1.0",
        "id": event_id,
        "source": SOURCE,
        "type": SUMMARY_TYPE,
        "time": timestamp(now),
        "data": {
            "silence": described(silence),
            "muted": muted,
        },
    }
    notifications = [Outgoing(channel, "", None, note=SUMMARY_NOTE) for channel in muted]
    # The key of a CloudEvent's dedup (source and id): the same silence's summary is one event, whoever makes it.
    return Incoming(f"{SOURCE}\x1f{event_id}", SUMMARY_TYPE, "", orjson.dumps(body), notifications)


def summary_message(body: bytes, channel: str) -> Message:
    """The message a channel gets of the summary event (its body as stored)."""
    data: Mapping[str, Any] = orjson.loads(body).get("data") or {}
    silence: Mapping[str, Any] = data.get("silence") or {}
    kinds: Mapping[str, int] = (data.get("muted") or {}).get(channel) or {}
    total = sum(kinds.values())
    counted = _counted(kinds)
    comment, author = str(silence.get("comment", "")), str(silence.get("createdBy", ""))
    said = f"While muted by {comment}, {author}: {_notifications(total)}: {counted}"
    severity = max((_severity(kind) for kind in kinds), key=lambda level: _RANK[level.value], default=Severity.INFO)
    matchers = ", ".join(str(matcher) for matcher in silence.get("matchers", [])) or "(none: everything)"
    return Message(
        title=f"Silence ended: {_notifications(total)} muted here",
        severity=Severity.INFO if severity is Severity.SUCCESS else severity,
        summary=said,
        text=said,
        facts=(
            Fact("Silence", str(silence.get("id", ""))),
            Fact("Matchers", matchers),
            Fact("Muted", f"{silence.get('startsAt', '?')} to {silence.get('endsAt', '?')}"),
        ),
        footer=f"keptn-notifier silence {silence.get('id', '')}",
        template="silence-summary",
    )


def _counted(kinds: Mapping[str, int]) -> str:
    """`3 evaluations failed, 2 deployments succeeded`: the worst first, then the most frequent."""
    ordered = sorted(kinds.items(), key=lambda item: (-_RANK[_severity(item[0]).value], -item[1], item[0]))
    shown = [_phrase(kind, number) for kind, number in ordered[:MAX_KINDS]]
    rest = sum(number for _, number in ordered[MAX_KINDS:])
    return ", ".join(shown + ([f"{rest} other"] if rest else []))


def _phrase(kind: str, number: int) -> str:
    noun, outcome, _ = _parts(kind)
    first = noun[:1].lower() + noun[1:] if noun[1:2].islower() else noun
    return f"{number} {first if number == 1 else _plural(first)} {outcome}"


def _severity(kind: str) -> Severity:
    level = _parts(kind)[2]
    return Severity(level) if level in _RANK else Severity.INFO


def _parts(kind: str) -> tuple[str, str, str]:
    noun, _, rest = kind.partition("/")
    outcome, _, severity = rest.rpartition("/")
    return noun or "Event", outcome or "muted", severity


def _plural(noun: str) -> str:
    if noun.endswith("s"):
        return noun
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"


def _notifications(number: int) -> str:
    return f"{number} notification" + ("" if number == 1 else "s")
