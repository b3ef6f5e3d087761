"""The plain message sent when a template fails: built in Python from the event, so that none is ever lost."""

from __future__ import annotations

from notifier.keptn.context import template_context
from notifier.keptn.details import RUN_TRACE
from notifier.keptn.events import KeptnEvent
from notifier.keptn.values import text
from notifier.message import Fact, Link, Message, Severity


def fallback_message(event: KeptnEvent, reason: str, bridge_url: str = "") -> Message:
    """A plain message built from the raw fields, for when a template fails. Cannot fail."""
    try:
        context = template_context(event, bridge_url)
        where = context["where"] or context["subject"]
        facts = [
            Fact(name, value)
            for name, value in (
                ("Project", context["project"]),
                ("Stage", context["stage"]),
                ("Service", context["service"]),
                ("Status", context["status"]),
                ("Result", context["result"]),
                ("Source", context["source"]),
                ("Event id", context["id"]),
            )
            if value
        ]
        trace = context["bridge"].get("trace", "")
        title = f"{context['emoji']} {context['type']}" + (f": {where}" if where else "")
        return Message(
            title=title,
            severity=Severity(context["severity"]),
            summary=title,
            text="\n\n".join(
                part
                for part in (
                    context["message"],
                    f"(Plain message: the notification {reason[:300]}. See the service log.)",
                )
                if part
            ),
            facts=tuple(facts),
            links=(Link(RUN_TRACE, trace),) if trace else (),
            footer=f"Keptn context {context['keptn_context']}" if context["keptn_context"] else "",
            template="fallback",
        )
    except Exception:
        return Message(
            title=f"Event {text(getattr(event, 'type', ''))}",
            text=f"(Plain message: the notification {reason[:300]}.)",
            template="fallback",
        )
