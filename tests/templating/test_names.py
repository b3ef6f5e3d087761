"""Names a template uses that the template context never has: named with the file, the line and the name
meant, when the templates are compiled; `check` prints them and start-up logs them, and neither fails on them."""

from __future__ import annotations

import logging
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import get_type_hints

import pytest

from notifier.keptn.context import TemplateContext
from notifier.keptn.details import Evaluation, MissedIndicator
from notifier.keptn.labels import LabelLink
from notifier.templating import TemplateSet
from notifier.templating.names import ANY, CONTEXT
from tests.helpers import REPO, Cli, in_process_cli, running_service

EVALUATION = "sh.keptn.event.evaluation.finished"
NOT_THERE = "which the template context does not have (it renders empty)"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    yield from in_process_cli(capsys, monkeypatch)


def warnings_for(tmp_path: Path, body: str, name: str = EVALUATION) -> list[str]:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(textwrap.dedent(body).lstrip())
    return TemplateSet(folder).warnings()


def test_the_built_in_templates_use_only_names_the_context_has() -> None:
    assert TemplateSet(None).warnings() == []


def test_a_copy_of_each_built_in_in_the_templates_folder_passes_too_and_a_typo_in_one_is_found(
    tmp_path: Path,
) -> None:
    # The same files through the sandbox; and proof that the built-ins' fields are looked at at all.
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "notifier" / "templates", folder, ignore=shutil.ignore_patterns("__*"))
    assert TemplateSet(folder).warnings() == []

    evaluation = folder / f"{EVALUATION}.yaml"
    text = evaluation.read_text()
    score = 'value: "{{ evaluation.score|round_score }}"'
    line = next(number for number, row in enumerate(text.splitlines(), 1) if score in row)
    evaluation.write_text(text.replace(score, score.replace("score|", "scroe|")))
    assert TemplateSet(folder).warnings() == [
        f"{evaluation} line {line}: `facts[3].value` uses `evaluation.scroe`: `evaluation` has no key `scroe` "
        "(it renders empty); did you mean 'score'?"
    ]


def test_a_misspelt_name_is_named_with_its_file_line_and_the_name_meant(tmp_path: Path) -> None:
    found = warnings_for(
        tmp_path,
        """
        # A comment, so that the title is on line 2.
        title: "{{ emoji }} Evaluation of {{ projet }}"
        text: |
          Score:
          {{ evalution.score }}
        facts:
          - {name: Mystery, value: "{{ flux_capacitor }}"}
        """,
    )
    origin = tmp_path / "templates" / f"{EVALUATION}.yaml"
    assert found == [
        f"{origin} line 2: `title` uses `projet`, {NOT_THERE}; did you mean 'project'?",
        f"{origin} line 5: `text` uses `evalution`, {NOT_THERE}; did you mean 'evaluation'?",
        f"{origin} line 7: `facts[0].value` uses `flux_capacitor`, {NOT_THERE}; "
        'the names it has are listed in docs/templates.md ("What a template sees")',
    ]


def test_keys_are_checked_through_the_typed_values_lists_and_loop_variables(tmp_path: Path) -> None:
    found = warnings_for(
        tmp_path,
        """
        title: "{{ labels_shown.links[0].titel }}"
        text: |
          {% for i in evaluation.failed[:10] %}
          {{ i.nmae }} {{ i.miss }}
          {% endfor %}
          {% set gate = evaluation %}
          {{ gate["scroe"] }} {{ problem.impact }}
        """,
    )
    assert [line.split(": ", 1)[1] for line in found] == [
        "`title` uses `labels_shown.links[0].titel`: `labels_shown.links[0]` has no key `titel` (it renders empty); "
        "did you mean 'title'?",
        "`text` uses `i.nmae`: `i` has no key `nmae` (it renders empty); did you mean 'name'?",
        "`text` uses `gate['scroe']`: `gate` has no key `scroe` (it renders empty); did you mean 'score'?",
        "`text` uses `problem.impact`: `problem` has no key `impact` (it renders empty); did you mean 'impacted'?",
    ]


def test_names_the_template_sets_itself_and_untyped_values_are_not_warned_about(tmp_path: Path) -> None:
    found = warnings_for(
        tmp_path,
        """
        title: "{% set headline = outcome|upper %}{{ headline }}"
        severity: "{{ severity }}"
        text: |
          {% import "_macros.j2" as m %}
          {% from "_macros.j2" import indicator as one %}
          {% macro row(item, sep=", ") %}{{ item.name }}{{ sep }}{{ varargs }}{{ caller() if caller }}{% endmacro %}
          {% for name, value in labels.items() %}{{ loop.index }} {{ name }}={{ value }}{% endfor %}
          {% for i in evaluation.indicators if i.key_sli %}{{ one(i) }}{{ m.indicator(i) }}{% else %}none{% endfor %}
          {% with first = evaluation.failed[0] %}{{ first.miss }}{% endwith %}
          {% call(x) row(evaluation) %}{{ x }}{% endcall %}
          {{ data.evaluation.whatever.deep }} {{ event.data["any key"] }} {{ labels["Problem URL"] }}
          {{ evaluation.keys()|list }} {{ range(3)|list }} {{ dict(a=1) }} {{ headline }} {{ later }}
        footer: "{% set later = 'set in the footer, read by the text before it' %}{{ later }}"
        """,
    )
    assert found == []


def test_the_known_names_and_keys_come_from_the_typed_context() -> None:
    assert CONTEXT.keys is not None
    assert set(CONTEXT.keys) == set(get_type_hints(TemplateContext))
    evaluation = CONTEXT.keys["evaluation"]
    assert evaluation.keys is not None and set(evaluation.keys) == set(get_type_hints(Evaluation))
    failed = evaluation.keys["failed"].items
    assert failed is not None and failed.keys is not None
    assert set(failed.keys) == set(get_type_hints(MissedIndicator))  # with the keys it inherits
    link = CONTEXT.keys["labels_shown"].keys["links"].items  # type: ignore[index]
    assert link is not None and link.keys is not None and set(link.keys) == set(get_type_hints(LabelLink))
    # Untyped on purpose: what an event holds.
    assert CONTEXT.keys["data"].values is ANY and CONTEXT.keys["labels"].values is ANY


def test_check_prints_each_as_a_warning_and_still_exits_0(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / f"{EVALUATION}.yaml").write_text('title: "{{ emoji }} {{ projet }}: {{ evaluation.scroe }}"\n')
    cli.env(TEMPLATES_DIR=str(folder))

    run = cli("check")

    assert run.code == 0, run
    origin = folder / f"{EVALUATION}.yaml"
    assert [line for line in run.stdout.splitlines() if line.startswith("warning: ")] == [
        f"warning: {origin} line 1: `title` uses `projet`, {NOT_THERE}; did you mean 'project'?",
        f"warning: {origin} line 1: `title` uses `evaluation.scroe`: `evaluation` has no key `scroe` "
        "(it renders empty); did you mean 'score'?",
    ], run
    assert run.stdout.splitlines()[-1].startswith("ok: "), run


async def test_start_up_logs_each_as_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "team.yaml").write_text('title: "{{ projet }}"\n')
    caplog.set_level(logging.WARNING, "notifier.service")
    config = {"channels": {"log": {"type": "console"}}, "routes": [{"name": "all", "channels": ["log"]}]}

    async with running_service(tmp_path, config, templates_dir=str(folder)):
        pass

    assert caplog.messages == [
        f"{folder / 'team.yaml'} line 1: `title` uses `projet`, {NOT_THERE}; did you mean 'project'?"
    ]
