"""From compiled fields and one event's context to a Message: render every field within the bounds, then tidy.

Raises on any failure (a field that raises, a bound passed, an empty title, an unknown severity); the
template set turns that into the fallback message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final
from urllib.parse import urlsplit

from jinja2.runtime import Context, new_context

from notifier.keptn.context import TemplateContext
from notifier.message import Fact, Link, Message, Severity
from notifier.templating.compiler import CompiledTemplate, FieldPair, TemplateField
from notifier.templating.sandbox import BoundedSandbox, RenderLimitExceeded

# What a rendered `when` may say to leave its fact or link out (compared stripped and lower-cased).
FALSY_WHEN: Final = frozenset({"", "false", "none", "0", "[]", "{}", "()", "no", "off"})
SEVERITIES: Final = frozenset(severity.value for severity in Severity)


class _FieldFailed(Exception):
    """One field's render failed; the text names the field and the cause."""

    def __init__(self, field: str, cause: BaseException) -> None:
        super().__init__(f"{field}: {type(cause).__name__}: {cause}")


class _Budget:
    """Characters left for one render, shared by all its fields."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            self.refuse()

    def refuse(self) -> None:
        raise RenderLimitExceeded(f"output is longer than {self.limit:,} characters")


def fill_message(env: BoundedSandbox, compiled: CompiledTemplate, context: TemplateContext) -> Message:
    # One Jinja context for all the fields of this render: making one per field cost more than rendering.
    # The globals travel as plain variables: a context that names globals makes each `{% import %}` of a
    # macro file compare key sets on every render, in pure Python.
    jinja_context = new_context(env, compiled.name, {}, {**env.globals, **context}, True)
    fields = _Fields(env, jinja_context, _Budget(env.limits.max_output_chars))
    with env.deadline(env.limits.max_render_seconds):
        title = one_line(fields.emit(compiled.title))
        if not title:
            raise ValueError("the title renders empty")
        severity = fields.emit(compiled.severity).strip().lower() or Severity.INFO.value
        if severity not in SEVERITIES:
            raise ValueError(f"severity renders to {severity[:40]!r}, not one of {', '.join(sorted(SEVERITIES))}")
        facts = tuple(
            Fact(one_line(label), value.strip())
            for label, value in fields.pairs(compiled.facts)
            if one_line(label) and value.strip()
        )
        links = tuple(
            Link(one_line(label) or url.strip(), url.strip())
            for label, url in fields.pairs(compiled.links)
            if _is_web_url(url.strip())
        )
        return Message(
            title=title,
            severity=Severity(severity),
            summary=one_line(fields.emit(compiled.summary)),
            text=_tidy(fields.emit(compiled.text)),
            facts=facts,
            links=links,
            footer=_tidy(fields.emit(compiled.footer)),
            template=compiled.name,
        )


class _Fields:
    """Renders the fields of one message into one Jinja context, all charged to one output budget."""

    def __init__(self, env: BoundedSandbox, context: Context, budget: _Budget) -> None:
        self._env = env
        self._context = context
        self._budget = budget

    def pairs(self, pairs: tuple[FieldPair, ...]) -> Iterator[tuple[str, str]]:
        for pair in pairs:
            if pair.when is not None and self.emit(pair.when).strip().lower() in FALSY_WHEN:
                continue
            yield self.emit(pair.first), self.emit(pair.second)

    def emit(self, field: TemplateField | None) -> str:
        if field is None:
            return ""
        budget = self._budget
        if field.template is None:
            budget.spend(len(field.constant))
            return field.constant
        parts: list[str] = []
        append = parts.append
        check_deadline = self._env.check_deadline
        try:
            # The output cap is checked on every chunk (cheap, so written out: a template yields a hundred or
            # more); the clock on every 32nd (a system call).
            for count, chunk in enumerate(field.template.root_render_func(self._context), 1):
                budget.left -= len(chunk)
                if budget.left < 0:
                    budget.refuse()
                if not count & 31:
                    check_deadline()
                append(chunk)
            check_deadline()
        except Exception as exc:
            raise _FieldFailed(field.label, exc) from exc
        return "".join(parts)


def one_line(value: str) -> str:
    return " ".join(value.split())


def _tidy(value: str) -> str:
    """Trailing spaces off, at most one blank line in a row: Jinja blocks leave gaps behind."""
    lines = [line.rstrip() for line in value.strip().splitlines()]
    joined = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", joined).strip() if "\n\n\n" in joined else joined.strip()


def _is_web_url(url: str) -> bool:
    if not url or url.split() != [url]:  # no whitespace
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)
