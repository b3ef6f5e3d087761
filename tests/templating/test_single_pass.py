"""One render pass per template file: every field in one Jinja template, read back field by field.

The pass must behave as if each field were rendered alone, in the order title, severity, facts, links,
summary, text, footer: a fact left out by its `when` is never rendered, a failure names its field, the
checks on earlier fields come first, and nothing a template writes can pass for the end of a field.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from notifier.keptn.events import KeptnEvent
from notifier.templating import TemplateError, TemplateLimits, TemplateSet, load_samples_by_name


def render(tmp_path: Path, body: str, caplog: pytest.LogCaptureFixture) -> tuple[str, str, str]:
    """(title, text or fallback text, the ERROR log line or "") of a one-file user template."""
    (tmp_path / "case.yaml").write_text(textwrap.dedent(body), encoding="utf-8")
    event: KeptnEvent = load_samples_by_name()["deployment-finished"]
    with caplog.at_level(logging.ERROR, logger="notifier.templating"):
        message = TemplateSet(tmp_path).render(event, "case")
    logged = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    facts = " | ".join(f"{fact.name}={fact.value}" for fact in message.facts)
    return message.title, message.text + (f" [{facts}]" if facts else ""), logged[0] if logged else ""


def test_a_fact_left_out_by_its_when_is_never_rendered(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    title, text, logged = render(
        tmp_path,
        """
        title: x
        facts:
          - {name: Broken, value: "{{ 1 / 0 }}", when: "{{ false }}"}
          - {name: "{{ 1 / 0 }}", value: v, when: "off"}
          - {name: Kept, value: "{{ project }}", when: "{{ project }}"}
        """,
        caplog,
    )
    assert (title, text, logged) == ("x", " [Kept=sockshop]", "")


def test_a_fact_its_when_lets_in_fails_naming_its_field(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _, _, logged = render(
        tmp_path,
        """
        title: x
        facts:
          - {name: Fine, value: "{{ project }}"}
          - {name: Broken, value: "{{ 1 / 0 }}", when: "{{ true }}"}
        """,
        caplog,
    )
    assert "failed, sending the plain fallback message instead: facts[1].value: ZeroDivisionError" in logged


def test_the_checks_on_earlier_fields_come_before_a_later_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, _, logged = render(tmp_path, 'title: "{{ \'\' }}"\ntext: "{{ 1 / 0 }}"\n', caplog)
    assert logged.endswith("the title renders empty")
    caplog.clear()
    _, _, logged = render(tmp_path, 'title: x\nseverity: critical\ntext: "{{ 1 / 0 }}"\n', caplog)
    assert "severity renders to 'critical'" in logged


def test_a_set_in_an_earlier_field_is_seen_by_later_ones_as_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    title, text, _ = render(tmp_path, 'title: "{% set who = \'ops\' %}for {{ who }}"\ntext: "{{ who }}"\n', caplog)
    assert (title, text) == ("for ops", "ops")


def test_nothing_a_template_writes_passes_for_the_end_of_a_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The two internal tests have names with a space: `select` can name one, and gets only truthy items back.
    title, text, logged = render(
        tmp_path,
        """
        title: "{% set fake = '\\x00end of field' %}{{ [1, 2]|select(' end of field')|join('-') }}{{ fake }}"
        text: "{{ fake }}{{ [0, 1]|select(' shown')|list }}"
        facts:
          - {name: Kept, value: v}
        """,
        caplog,
    )
    assert (title, text, logged) == ("1-2\x00end of field", "\x00end of field[0, 1] [Kept=v]", "")


def test_extends_and_block_are_refused_at_start(tmp_path: Path) -> None:
    for body in ("title: \"{% extends '_macros.j2' %}\"\n", 'title: x\ntext: "{% block b %}t{% endblock %}"\n'):
        (tmp_path / "case.yaml").write_text(body, encoding="utf-8")
        with pytest.raises(TemplateError, match="extends %} and {% block %} have no use in a template field"):
            TemplateSet(tmp_path)


def test_an_error_only_compiling_finds_names_its_field_and_line(tmp_path: Path) -> None:
    (tmp_path / "case.yaml").write_text(
        'title: x\nfacts:\n  - {name: a, value: "{{ project }}"}\n  - {name: b, value: "{{ project|nope }}"}\n',
        encoding="utf-8",
    )
    with pytest.raises(TemplateError, match=r"line 4: `facts\[1\].value` is not a valid Jinja template: No filter"):
        TemplateSet(tmp_path)


def test_passing_the_output_cap_names_the_field_unless_it_is_plain_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    event: KeptnEvent = load_samples_by_name()["deployment-finished"]
    for fact, reason in (
        ("{name: Plain, value: v}", "instead: output is longer than 10 characters"),
        ('{name: "{{ project }}", value: v}', "instead: facts[0].name: RenderLimitExceeded: output is longer than 10"),
    ):
        (tmp_path / "case.yaml").write_text(f"title: 0123456789\nfacts:\n  - {fact}\n", encoding="utf-8")
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="notifier.templating"):
            TemplateSet(tmp_path, limits=TemplateLimits(max_output_chars=10)).render(event, "case")
        assert reason in caplog.records[0].getMessage()
