"""From a compiled template and one event's context to a Message: render the fields within the bounds, then tidy.

Raises on any failure (a field that raises, a bound passed, an empty title, an unknown severity); the
template set turns that into the fallback message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from jinja2.runtime import new_context

from notifier.keptn.context import TemplateContext
from notifier.keptn.urls import is_real_url, link_url
from notifier.message import Fact, Link, Message, Severity
from notifier.templating.compiler import CompiledTemplate, FieldPair, TemplateField
from notifier.templating.sandbox import RenderLimitExceeded
from notifier.templating.single_pass import FIELD_END, GATE, Gate
from notifier.templating.trusted import TemplateEnvironment

# What a rendered `when` may say to leave its fact or link out (compared stripped and lower-cased).
FALSY_WHEN: Final = frozenset({"", "false", "none", "0", "[]", "{}", "()", "no", "off"})
SEVERITIES: Final = frozenset(severity.value for severity in Severity)


class _FieldFailed(Exception):
    """One field's render failed; the text names the field and the cause."""

    def __init__(self, field: str, cause: BaseException) -> None:
        super().__init__(f"{field}: {type(cause).__name__}: {cause}")


def fill_message(compiled: CompiledTemplate, context: TemplateContext) -> Message:
    env = compiled.environment
    # The globals travel as plain variables: a context that names globals makes each `{% import %}` of a
    # macro file compare key sets on every render, in pure Python.
    gate = Gate()
    jinja_context = new_context(env, compiled.name, {}, {**env.globals, **context, GATE: gate}, True)
    env.start_deadline(env.limits.max_render_seconds)
    try:
        fields = _read_fields(env, compiled, compiled.template.root_render_func(jinja_context), gate)
    finally:
        env.end_deadline()
    title = one_line(fields.text(compiled.title))
    if not title:
        raise ValueError("the title renders empty")
    severity = fields.text(compiled.severity).strip().lower() or Severity.INFO.value
    if severity not in SEVERITIES:
        raise ValueError(f"severity renders to {severity[:40]!r}, not one of {', '.join(sorted(SEVERITIES))}")
    facts = []
    for label, value in fields.pairs(compiled.facts):
        name, shown = one_line(label), value.strip()
        if name and shown:
            facts.append(Fact(name, shown))
    links = []
    for label, url in fields.pairs(compiled.links):
        url = link_url(url.strip())
        if _is_web_url(url):
            links.append(Link(one_line(label) or url, url))
    return Message(
        title=title,
        severity=Severity(severity),
        summary=one_line(fields.text(compiled.summary)),
        text=_tidy(fields.text(compiled.text)),
        facts=tuple(facts),
        links=tuple(links),
        footer=_tidy(fields.text(compiled.footer)),
        template=compiled.name,
    )


class _Fields:
    """The rendered fields of one message; a failed field (and every later one) raises its failure when read.

    Read in the template's order, which is the order the fields used to be rendered one by one, a failure
    shows where it did then: after the checks on the fields before it.
    """

    def __init__(self, texts: list[str | None], failure: Exception | None) -> None:
        self._texts = texts
        self._failure = failure

    def text(self, field: TemplateField | None) -> str:
        if field is None:
            return ""
        if field.index >= len(self._texts):
            assert self._failure is not None
            raise self._failure
        return self._texts[field.index] or ""

    def pairs(self, pairs: tuple[FieldPair, ...]) -> Iterator[tuple[str, str]]:
        for pair in pairs:
            if pair.when is not None:
                self.text(pair.when)
            first = self.text(pair.first)
            if self._texts[pair.first.index] is not None:  # None: left out by its `when`
                yield first, self.text(pair.second)


def _read_fields(env: TemplateEnvironment, compiled: CompiledTemplate, chunks: Iterator[str], gate: Gate) -> _Fields:
    """Every field's text off the joined template's output, within one output budget; None for a left-out one."""
    gates, labels = compiled.gates, compiled.labels
    left = env.limits.max_output_chars
    texts: list[str | None] = []
    parts: list[str] = []
    try:
        # The output cap is checked on every chunk (cheap, so written out: a template yields a hundred or
        # more); the clock on every 32nd (a system call).
        for count, chunk in enumerate(chunks, 1):
            if chunk is FIELD_END:
                text = "".join(parts)
                parts.clear()
                texts.append(text)
                if gates[len(texts) - 1]:
                    # The template asks the gate whether to render the two fields after this `when`.
                    gate.shown = text.strip().lower() not in FALSY_WHEN
                    if not gate.shown:
                        texts += (None, None)
                continue
            left -= len(chunk)
            if left < 0:
                raise RenderLimitExceeded(f"output is longer than {env.limits.max_output_chars:,} characters")
            if not count & 31:
                env.check_deadline()
            parts.append(chunk)
        env.check_deadline()
    except Exception as exc:
        at = min(len(texts), len(labels) - 1)
        if compiled.constants[at]:  # plain text can only pass the output cap: said without a field's name, as ever
            return _Fields(texts, exc)
        failed = _FieldFailed(labels[at], exc)
        failed.__cause__ = exc
        return _Fields(texts, failed)
    return _Fields(texts, None)


def one_line(value: str) -> str:
    return " ".join(value.split())


def _tidy(value: str) -> str:
    """Trailing spaces off, at most one blank line in a row: Jinja blocks leave gaps behind."""
    lines = [line.rstrip() for line in value.strip().splitlines()]
    joined = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", joined).strip() if "\n\n\n" in joined else joined.strip()


def _is_web_url(url: str) -> bool:
    # Also refuses placeholders such as `https://.../#problems`: a button to them is a dead end.
    return is_real_url(url)
