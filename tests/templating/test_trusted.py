"""The built-in templates run outside the sandbox, by one rule, and must render exactly as they would inside it.

The rule (notifier/templating/trusted.py): built-ins run in the trusted environment unless the templates folder
replaces a built-in macro file; every file from the templates folder runs in the sandbox.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from jinja2 import ChoiceLoader

from notifier.keptn.context import template_context
from notifier.keptn.events import KeptnEvent, event_from_mapping
from notifier.templating import TemplateSet, load_samples, load_samples_by_name
from notifier.templating.compiler import CompiledTemplate, compile_template, yaml_files
from notifier.templating.fill import fill_message
from notifier.templating.sandbox import DEFAULT_LIMITS, BoundedSandbox
from notifier.templating.sources import MacroLoader, package_folder
from notifier.templating.trusted import TrustedEnvironment
from tests.payload_checks import hostile_events
from tests.strategies import events

BRIDGE = "https://bridge.example.com"


def environments(templates: TemplateSet) -> dict[str, type]:
    return {name: type(templates._templates[name].environment) for name in templates.names()}


def test_built_ins_are_trusted_and_user_files_are_not(tmp_path: Path) -> None:
    (tmp_path / "task.finished.yaml").write_text("title: mine\n", encoding="utf-8")
    (tmp_path / "_team.j2").write_text("{% macro m() %}x{% endmacro %}\n", encoding="utf-8")
    found = environments(TemplateSet(tmp_path))
    assert found.pop("task.finished") is BoundedSandbox
    assert set(found.values()) == {TrustedEnvironment}


def test_replacing_a_built_in_macro_file_puts_every_built_in_in_the_sandbox(tmp_path: Path) -> None:
    (tmp_path / "_macros.j2").write_text("{% macro indicator(i) %}{{ i.name }}{% endmacro %}\n", encoding="utf-8")
    assert set(environments(TemplateSet(tmp_path)).values()) == {BoundedSandbox}


def test_a_replaced_macro_file_runs_sandboxed_even_from_a_built_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "_macros.j2").write_text(
        "{% macro indicator(i) %}{{ ''.__class__.__mro__[1].__subclasses__() }}{% endmacro %}\n"
        "{% macro problem_text(p) %}{% endmacro %}{% macro finished(o) %}{% endmacro %}\n",
        encoding="utf-8",
    )
    failing = load_samples_by_name()["evaluation-finished-fail"]
    with caplog.at_level(logging.ERROR, logger="notifier.templating"):
        message = TemplateSet(tmp_path).render(failing)
    assert message.template == "fallback" and "<class" not in message.text
    assert "SecurityError" in caplog.records[0].getMessage()


@pytest.fixture(scope="module")
def both() -> tuple[TemplateSet, dict[str, CompiledTemplate]]:
    """The built-ins as the service renders them, and each compiled again in the sandbox."""
    folder = package_folder("notifier.templates", "notifier/templates")
    sandbox = BoundedSandbox(ChoiceLoader([MacroLoader(folder)]), DEFAULT_LIMITS)
    sandboxed = {name: compile_template(sandbox, name, entry) for name, entry in yaml_files(folder).items()}
    return TemplateSet(None, BRIDGE), sandboxed


def assert_same_both_ways(both: tuple[TemplateSet, dict[str, CompiledTemplate]], event: KeptnEvent) -> None:
    templates, sandboxed = both
    context = template_context(event, BRIDGE)
    for name in templates.names():
        trusted = templates._templates[name]
        assert isinstance(trusted.environment, TrustedEnvironment)
        try:
            expected: Any = fill_message(sandboxed[name], context)
        except Exception as exc:
            expected = str(exc)
        try:
            actual: Any = fill_message(trusted, context)
        except Exception as exc:
            actual = str(exc)
        assert actual == expected, name


def test_every_built_in_renders_every_sample_the_same_in_the_sandbox(
    both: tuple[TemplateSet, dict[str, CompiledTemplate]],
) -> None:
    for event in load_samples():
        assert_same_both_ways(both, event)


def test_every_built_in_renders_hostile_events_the_same_in_the_sandbox(
    both: tuple[TemplateSet, dict[str, CompiledTemplate]],
) -> None:
    for _, raw in hostile_events():
        assert_same_both_ways(both, event_from_mapping(raw))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events())
def test_every_built_in_renders_any_event_the_same_in_the_sandbox(
    both: tuple[TemplateSet, dict[str, CompiledTemplate]], raw: dict[str, Any]
) -> None:
    assert_same_both_ways(both, event_from_mapping(raw))
