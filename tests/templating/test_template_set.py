"""The template engine: built-ins against every sample, user overrides, config errors, and a sandbox that holds."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from notifier.keptn.details import OPEN_IN_BRIDGE, RUN_TRACE
from notifier.keptn.events import KeptnEvent, event_from_mapping
from notifier.message import Fact, Link, Severity
from notifier.render import render
from notifier.templating import (
    TemplateError,
    TemplateLimits,
    TemplateSet,
    fallback_message,
    load_samples,
    load_samples_by_name,
)

BRIDGE = "https://keptn.example.com/bridge"

# Every packaged sample and the template it must be rendered with.
EXPECTED_TEMPLATE = {
    "action-triggered": "task.triggered",
    "approval-triggered-manual": "sh.keptn.event.approval.triggered",
    "deployment-finished": "sh.keptn.event.deployment.finished",
    "deployment-started": "task.started",
    "deployment-triggered": "task.triggered",
    "evaluation-finished-fail": "sh.keptn.event.evaluation.finished",
    "evaluation-finished-disagreeing": "sh.keptn.event.evaluation.finished",
    "evaluation-finished-pass": "sh.keptn.event.evaluation.finished",
    "evaluation-finished-unusual-statuses": "sh.keptn.event.evaluation.finished",
    "evaluation-invalidated": "sh.keptn.event.evaluation.invalidated",
    "evaluation-triggered": "task.triggered",
    "get-action-finished": "task.finished",
    "get-action-triggered": "task.triggered",
    "get-sli-finished": "sh.keptn.event.get-sli.finished",
    "get-sli-triggered": "task.triggered",
    "log-error": "log.error",
    "monitoring-configure": "lifecycle",
    "problem-open-spec": "problem",
    "problem-legacy-resolved": "problem",
    "project-create-finished": "lifecycle",
    "project-create-triggered": "lifecycle",
    "release-finished": "task.finished",
    "release-triggered": "task.triggered",
    "remediation-triggered-dynatrace": "sequence.remediation.triggered",
    "remediation-triggered-prometheus": "sequence.remediation.triggered",
    "sequence-finished": "sequence.finished",
    "sequence-finished-aborted": "sequence.finished",
    "sequence-finished-timeout": "sequence.finished",
    "sequence-triggered": "sequence.triggered",
    "tekton-pipelinerun-successful": "default",
    "test-finished": "sh.keptn.event.test.finished",
    "test-started": "task.started",
    "test-status-changed": "task.status.changed",
    "test-triggered": "task.triggered",
}


@pytest.fixture(scope="module")
def samples() -> dict[str, KeptnEvent]:
    return load_samples_by_name()


@pytest.fixture(scope="module")
def builtin() -> TemplateSet:
    return TemplateSet(None, bridge_url=BRIDGE)


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


# ---- the built-in templates against the samples ----


def test_every_sample_has_an_expected_template(samples: dict[str, KeptnEvent]) -> None:
    assert sorted(samples) == sorted(EXPECTED_TEMPLATE)


@pytest.mark.parametrize("sample", sorted(EXPECTED_TEMPLATE))
def test_each_sample_renders_with_its_template_and_without_fallback(
    builtin: TemplateSet, samples: dict[str, KeptnEvent], sample: str, caplog: pytest.LogCaptureFixture
) -> None:
    event = samples[sample]
    assert builtin.select(event.type) == EXPECTED_TEMPLATE[sample]
    message = builtin.render(event)
    assert message.template == EXPECTED_TEMPLATE[sample], message.text
    assert message.title.strip() and "\n" not in message.title
    assert "{{" not in message.title + message.text + message.footer
    assert all(link.url.startswith("https://") for link in message.links)
    assert errors(caplog) == []


def test_check_finds_no_problem_in_the_built_ins(builtin: TemplateSet) -> None:
    assert builtin.check(load_samples()) == []


def test_the_required_built_in_templates_exist(builtin: TemplateSet) -> None:
    required = {
        "default",
        "task.triggered",
        "task.started",
        "task.status.changed",
        "task.finished",
        "sequence.triggered",
        "sequence.finished",
        "sequence.remediation.triggered",
        "problem",
        "sh.keptn.event.evaluation.finished",
        "sh.keptn.event.evaluation.invalidated",
        "sh.keptn.event.approval.triggered",
        "sh.keptn.event.deployment.finished",
        "sh.keptn.event.get-sli.finished",
        "sh.keptn.event.test.finished",
        "log.error",
        "lifecycle",
    }
    assert required <= set(builtin.names())


def test_a_failed_evaluation_shows_score_failed_slis_and_the_bridge(
    builtin: TemplateSet, samples: dict[str, KeptnEvent]
) -> None:
    message = builtin.render(samples["evaluation-finished-fail"])
    assert message.title == "❌ Evaluation failed: sockshop/staging/carts"
    assert message.severity is Severity.FAILURE
    # Issue 9: score and result are shown once, as facts, no longer also as a line of text.
    assert message.text.splitlines() == [
        "2 of 3 SLIs missed their pass criteria:",
        "• Response time P95: 947.32 (fail; pass if <=+10% (= 563.99) and <600; warning if <=800), key SLI",
        "• Error rate: 0.087 (fail; pass if <=0.02; warning if <=0.05)",
    ]
    assert "Throughput" not in message.text
    assert Fact("Score", "33.33") in message.facts
    context = "9f0d7c21-5b7a-4e8e-b1c3-64a2f5d8e917"
    assert message.links[:2] == (
        Link("Open in Bridge", f"{BRIDGE}/evaluation/{context}"),
        Link("Run trace", f"{BRIDGE}/trace/{context}"),
    )


def test_a_manual_approval_says_a_person_must_act(builtin: TemplateSet, samples: dict[str, KeptnEvent]) -> None:
    message = builtin.render(samples["approval-triggered-manual"])
    assert message.title == "✋ Approval needed: sockshop/production/carts"
    assert message.severity is Severity.WARNING
    assert "someone must approve or decline carts in stage production" in message.text
    # The one button opens the sequence, where the Bridge asks for the decision.
    assert [link.title for link in message.links] == ["Open in Bridge"]


def test_an_automatic_approval_needs_no_action(builtin: TemplateSet, samples: dict[str, KeptnEvent]) -> None:
    raw = dict(samples["approval-triggered-manual"].raw)
    raw["data"] = {**raw["data"], "approval": {"pass": "automatic", "warning": "manual"}}
    message = builtin.render(event_from_mapping(raw))
    assert message.title.startswith("🚀 Approval triggered")
    assert 'No action needed: the approval strategy for result "pass" is automatic.' in message.text


def test_deployment_uris_become_links(builtin: TemplateSet, samples: dict[str, KeptnEvent]) -> None:
    message = builtin.render(samples["deployment-finished"])
    assert message.title == "✅ Deployment succeeded: sockshop/staging/carts"
    assert Link("Open https://carts.staging.sockshop.example.com", "https://carts.staging.sockshop.example.com") in (
        message.links
    )
    assert "http://carts.sockshop-staging:80" in message.text


def test_a_problem_shows_title_state_impact_and_its_url(builtin: TemplateSet, samples: dict[str, KeptnEvent]) -> None:
    message = builtin.render(samples["remediation-triggered-dynatrace"])
    assert message.title == "🚨 Problem open: Response time degradation"
    assert "Impacted: Response time degradation on Web request service carts" in message.text
    assert Fact("State", "OPEN") in message.facts
    assert message.links[0].title == "Open problem"
    assert message.links[0].url.startswith("https://abc12345.live.dynatrace.com/#problems/")
    resolved = builtin.render(samples["problem-legacy-resolved"])
    assert resolved.title == "✅ Problem resolved: Response time degradation"
    assert resolved.severity is Severity.SUCCESS


def test_sequence_timeouts_and_aborts_are_explained(builtin: TemplateSet, samples: dict[str, KeptnEvent]) -> None:
    timeout = builtin.render(samples["sequence-finished-timeout"])
    assert timeout.title == "⏰ Sequence delivery timed out: sockshop/staging/carts"
    assert "no integration started the next task in time" in timeout.text
    aborted = builtin.render(samples["sequence-finished-aborted"])
    assert aborted.title == "🛑 Sequence delivery aborted: sockshop/production/carts"
    # Issue 9: the sample says status aborted with result fail; the worst of them (fail) sets the severity.
    assert aborted.severity is Severity.FAILURE


def test_each_sli_the_provider_could_not_get_is_its_own_bullet(
    builtin: TemplateSet, samples: dict[str, KeptnEvent]
) -> None:
    raw = dict(samples["get-sli-finished"].raw)
    values = [
        {"metric": "response_time_p95", "value": 0, "success": False, "message": ""},
        {"metric": "error_rate", "value": 0, "success": False, "message": "no data"},
    ]
    raw["data"] = {**raw["data"], "get-sli": {"indicatorValues": values}}
    message = builtin.render(event_from_mapping(raw))
    assert message.text.splitlines() == [
        "2 of 2 SLIs could not be retrieved:",
        "• response_time_p95",
        "• error_rate: no data",
    ]


def test_a_plain_cloudevent_renders_through_default(builtin: TemplateSet, samples: dict[str, KeptnEvent]) -> None:
    message = builtin.render(samples["tekton-pipelinerun-successful"])
    assert message.title == "ℹ️ dev.tekton.event.pipelinerun.successful.v1: carts-build-run-x7k2p"  # noqa: RUF001
    assert Fact("Subject", "carts-build-run-x7k2p") in message.facts
    assert message.links == ()


def test_without_a_bridge_url_there_are_no_bridge_links(samples: dict[str, KeptnEvent]) -> None:
    message = TemplateSet(None).render(samples["evaluation-finished-fail"])
    assert message.template == "sh.keptn.event.evaluation.finished"
    assert message.links == ()


def test_the_samples_look_like_what_keptn_sends(samples: dict[str, KeptnEvent]) -> None:
    keptn_samples = [event for name, event in samples.items() if not name.startswith("tekton")]
    assert all(event.specversion == "1.0" for event in samples.values())
    assert all(event.raw.get("shkeptnspecversion") == "0.2.4" for event in keptn_samples)
    assert all(isinstance(event.raw.get("triggeredid"), str) for event in keptn_samples)
    assert any(len(event.time.rsplit(".", 1)[-1].rstrip("Z")) == 9 for event in samples.values())
    assert any("Problem URL" in event.labels for event in samples.values())


# ---- selection and user templates ----

FACTS_AND_LINKS = """\
title: x
facts:
  - {name: Kept, value: "{{ project }}"}
  - {name: Empty, value: "{{ nothing.at.all }}"}
  - {name: Hidden, value: shown, when: "{{ false }}"}
  - {name: No bridge, value: shown, when: "{{ bridge }}"}
  - {name: Zero, value: shown, when: "0"}
links:
  - {title: Web, url: "https://example.com/a"}
  - {title: Script, url: "javascript:alert(1)"}
  - {title: Relative, url: "/trace/1"}
  - {title: Spaced, url: "https://example.com/a b"}
  - {title: "", url: "http://example.com/untitled"}
"""


@pytest.fixture(scope="module")
def custom_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user folder that overrides one built-in, adds templates and a macro file, and has one broken file."""
    folder = tmp_path_factory.mktemp("custom")
    write(folder, "task.started.yaml", 'title: "Mine: {{ task_label }} on {{ service }}"\n')
    write(folder, "team-evaluation.yaml", 'title: "Team view of {{ service }}"\n')
    write(folder, "sh.keptn.event.release.finished.yaml", 'title: "Released {{ service }}"\n')
    write(folder, "_team.j2", "{% macro shout(text) %}{{ text|upper }}!{% endmacro %}\n")
    write(folder, "shouting.yaml", "title: '{% import \"_team.j2\" as t %}{{ t.shout(service) }}'\n")
    write(folder, "facts-and-links.yaml", FACTS_AND_LINKS)
    write(folder, "task.status.changed.yaml", 'title: "{{ 1 / 0 }}"\n')
    write(folder, "README.md", "Not a template: ignored.\n")
    return folder


@pytest.fixture(scope="module")
def custom(custom_dir: Path) -> TemplateSet:
    return TemplateSet(custom_dir, BRIDGE)


def test_a_user_file_replaces_only_the_built_in_of_the_same_name(
    custom: TemplateSet, samples: dict[str, KeptnEvent]
) -> None:
    assert custom.render(samples["deployment-started"]).title == "Mine: Deployment on carts"
    finished = custom.render(samples["deployment-finished"])
    assert finished.title == "✅ Deployment succeeded: sockshop/staging/carts"
    assert custom.has("sequence.finished") and custom.has("team-evaluation") and not custom.has("README")


def test_a_template_can_be_chosen_by_name(custom: TemplateSet, samples: dict[str, KeptnEvent]) -> None:
    chosen = custom.render(samples["evaluation-finished-fail"], "team-evaluation")
    # No `severity:` in the file means info, whatever the event says.
    assert (chosen.title, chosen.template, chosen.severity) == ("Team view of carts", "team-evaluation", Severity.INFO)


def test_a_user_template_for_an_exact_type_wins_over_the_family(
    custom: TemplateSet, samples: dict[str, KeptnEvent]
) -> None:
    assert custom.select("sh.keptn.event.release.finished") == "sh.keptn.event.release.finished"
    assert custom.select("sh.keptn.event.rollback.finished") == "task.finished"
    assert custom.render(samples["release-finished"]).title == "Released carts"


def test_user_macros_can_be_imported(custom: TemplateSet, samples: dict[str, KeptnEvent]) -> None:
    assert custom.render(samples["deployment-finished"], "shouting").title == "CARTS!"


def test_facts_and_links_are_left_out_when_empty_falsy_or_not_web(
    custom: TemplateSet, samples: dict[str, KeptnEvent]
) -> None:
    message = custom.render(samples["tekton-pipelinerun-successful"], "facts-and-links")
    assert message.facts == ()
    message = custom.render(samples["deployment-finished"], "facts-and-links")
    assert message.facts == (Fact("Kept", "sockshop"), Fact("No bridge", "shown"))
    assert message.links == (
        Link("Web", "https://example.com/a"),
        Link("http://example.com/untitled", "http://example.com/untitled"),
    )


def test_an_empty_bridge_makes_a_when_false(samples: dict[str, KeptnEvent], custom_dir: Path) -> None:
    message = TemplateSet(custom_dir).render(samples["deployment-finished"], "facts-and-links")
    assert message.facts == (Fact("Kept", "sockshop"),)


def test_check_reports_a_template_that_fails_on_a_sample(custom: TemplateSet, custom_dir: Path) -> None:
    problems = custom.check(load_samples())
    assert len(problems) == 1
    assert problems[0].startswith(f"{custom_dir / 'task.status.changed.yaml'}: fails for a ")
    assert "sh.keptn.event.test.status.changed event" in problems[0]
    assert "ZeroDivisionError" in problems[0]


# ---- configuration errors ----


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('title: "x"\ntext: "{% if %}"\n', "line 2: `text` is not a valid Jinja template"),
        ('title: "x"\ntext: |\n  fine\n  {{ broken( }}\n', "line 4: `text` is not a valid Jinja template"),
        ('title: "x"\ncolour: red\n', "line 2: unknown key 'colour'; allowed keys are title, summary"),
        ('title: "x"\nfacts:\n  - {name: a, value: b, hint: c}\n', "line 3: unknown key 'hint' in facts[0]"),
        ('title: "x"\nlinks:\n  - {title: a}\n', "links[0] lacks `url`"),
        ('title: "x"\nfacts: {name: a}\n', "`facts` must be a list of mappings"),
        ("title: {a: b}\n", "`title` must be text, not dict; put the value in quotes"),
        ("title: {{ type }}\n", "not valid YAML (found unhashable key); check the indentation, and quote values"),
        ('title: "x"\n  text: y\n', "not valid YAML"),
        ('summary: "no title"\n', "the `title:` key is missing"),
        ("- a list\n", "a template must be a YAML mapping"),
        ("title: '{{ x|center(9) }}'\n", "No filter named 'center'"),
        ("title: '{% import \"_missing.j2\" as m %}x'\n", "imports '_missing.j2'"),
        ("title: '{% include \"../../etc/passwd\" %}'\n", "imports '../../etc/passwd'"),
        ("title: '{% include \"/etc/passwd\" %}'\n", "imports '/etc/passwd'"),
    ],
)
def test_a_broken_template_is_a_config_error_naming_the_file(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, "task.finished.yaml", body)
    with pytest.raises(TemplateError) as caught:
        TemplateSet(tmp_path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_a_broken_macro_file_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "_team.j2", "{% macro m() %}\n{{ oops( }}\n{% endmacro %}\n")
    with pytest.raises(TemplateError, match="line 2: not a valid Jinja template") as caught:
        TemplateSet(tmp_path)
    assert str(path) in str(caught.value)


def test_a_yml_file_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    write(tmp_path, "default.yml", "title: x\n")
    with pytest.raises(TemplateError, match=r"default\.yml: template files must end in \.yaml"):
        TemplateSet(tmp_path)


def test_a_missing_user_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        TemplateSet(tmp_path / "nope")


# ---- failures at render time: fallback plus an ERROR log naming the template ----

# Each becomes a user template `hostile-<key>` whose text is the value; all are compiled once.
HOSTILE = {
    "raises": "{{ 1 / 0 }}",
    "output-cap": "{% for i in range(10000) %}0123456789{% endfor %}",
    "slow": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "severity": None,
    "repeat-str": '{{ "a" * 1000000000 }}',
    "repeat-list": "{{ [1] * 1000000000 }}",
    "ljust": '{{ "a".ljust(1000000000) }}',
    "power": "{{ 10 ** 1000000 }}",
    "replace": '{{ ("a" * 5000)|replace("a", "aaaaaaaaaa") }}',
    "include-up": '{% set target = "../../etc/passwd" %}{% include target %}',
    "include-absolute": '{% set target = "/etc/passwd" %}{% include target %}',
    "import-through": '{% set target = "_macros.j2/../../../etc/passwd" %}{% import target as m %}',
    "subclasses": '{{ "".__class__.__mro__[1].__subclasses__() }}',
    "attr-filter": '{{ ""|attr("__class__") }}',
    "globals": "{{ cycler.__init__.__globals__ }}",
    "template-context": "{{ self._TemplateReference__context }}",
    "str-format": '{{ "{0.__class__}".format("") }}',
    "printf": '{{ "%s" % "x" }}',
    "mutate": '{{ data.pop("project") }}',
    "namespace": "{% set ns = namespace(total=0) %}",
}
LIMITS = TemplateLimits(max_output_chars=5000, max_render_seconds=0.2)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> TemplateSet:
    folder = tmp_path_factory.mktemp("hostile")
    for key, text in HOSTILE.items():
        body = "title: x\nseverity: critical\n" if text is None else f"title: x\ntext: {text!r}\n"
        write(folder, f"hostile-{key}.yaml", body)
    return TemplateSet(folder, BRIDGE, LIMITS)


def render_hostile(hostile: TemplateSet, key: str, caplog: pytest.LogCaptureFixture) -> tuple[str, str]:
    """Render one hostile template, expect the fallback and one ERROR naming it; returns text and log."""
    event = load_samples_by_name()["evaluation-finished-fail"]
    with caplog.at_level(logging.ERROR, logger="notifier.templating"):
        message = hostile.render(event, f"hostile-{key}")
    assert message.template == "fallback"
    assert message.title == "❌ sh.keptn.event.evaluation.finished: sockshop/staging/carts"
    records = errors(caplog)
    assert len(records) == 1
    assert records[0].name == "notifier.templating"
    assert records[0].template == f"hostile-{key}"  # type: ignore[attr-defined]
    assert records[0].keptnContext == "9f0d7c21-5b7a-4e8e-b1c3-64a2f5d8e917"  # type: ignore[attr-defined]
    assert f"template 'hostile-{key}' failed" in message.text
    return message.text, records[0].getMessage()


def test_a_template_that_raises_gives_the_fallback(hostile: TemplateSet, caplog: pytest.LogCaptureFixture) -> None:
    _, log = render_hostile(hostile, "raises", caplog)
    assert "text: ZeroDivisionError: division by zero" in log


def test_output_past_the_cap_gives_the_fallback(hostile: TemplateSet, caplog: pytest.LogCaptureFixture) -> None:
    _, log = render_hostile(hostile, "output-cap", caplog)
    assert "output is longer than 5,000 characters" in log


def test_a_render_that_takes_too_long_gives_the_fallback(
    hostile: TemplateSet, caplog: pytest.LogCaptureFixture
) -> None:
    _, log = render_hostile(hostile, "slow", caplog)
    assert "rendering took longer than 0.2 s" in log


def test_a_bad_severity_gives_the_fallback(hostile: TemplateSet, caplog: pytest.LogCaptureFixture) -> None:
    _, log = render_hostile(hostile, "severity", caplog)
    assert "severity renders to 'critical', not one of failure, info, success, warning" in log


@pytest.mark.parametrize("key", ["repeat-str", "repeat-list", "ljust", "power", "replace"])
def test_huge_values_are_refused_before_they_are_built(
    hostile: TemplateSet, caplog: pytest.LogCaptureFixture, key: str
) -> None:
    _, log = render_hostile(hostile, key, caplog)
    assert "RenderLimitExceeded" in log


@pytest.mark.parametrize(
    "key",
    [
        "include-up",
        "include-absolute",
        "import-through",
        "subclasses",
        "attr-filter",
        "globals",
        "template-context",
        "str-format",
        "printf",
        "mutate",
        "namespace",
    ],
)
def test_escape_attempts_are_refused_and_give_the_fallback(
    hostile: TemplateSet, caplog: pytest.LogCaptureFixture, key: str
) -> None:
    text, log = render_hostile(hostile, key, caplog)
    # Nothing from the file system or the interpreter leaks: /etc/passwd starts with "root:".
    assert "root:" not in text and "root:" not in log and "<class" not in text + log
    assert any(word in log for word in ("SecurityError", "TemplateNotFound", "UndefinedError")), log


def test_an_unknown_template_name_gives_the_fallback(
    builtin: TemplateSet, samples: dict[str, KeptnEvent], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="notifier.templating"):
        message = builtin.render(samples["test-finished"], "no-such-template")
    assert message.template == "fallback"
    assert errors(caplog)[0].template == "no-such-template"  # type: ignore[attr-defined]


# ---- the pieces ----


def test_fallback_message_is_plain_and_keeps_the_essentials(samples: dict[str, KeptnEvent]) -> None:
    message = fallback_message(samples["evaluation-finished-fail"], "template 'x' failed: boom", BRIDGE)
    assert message.template == "fallback"
    assert message.title == "❌ sh.keptn.event.evaluation.finished: sockshop/staging/carts"
    assert message.severity is Severity.FAILURE
    assert "template 'x' failed: boom" in message.text
    assert Fact("Result", "fail") in message.facts
    assert message.links[0].url == f"{BRIDGE}/trace/9f0d7c21-5b7a-4e8e-b1c3-64a2f5d8e917"


def test_fallback_message_survives_an_event_that_is_not_one() -> None:
    broken = KeptnEvent(id="1", source="s", type="t", specversion="1.0", data=None, raw=None)  # type: ignore[arg-type]
    message = fallback_message(broken, "reason")
    assert (message.title, message.template) == ("ℹ️ t", "fallback")  # noqa: RUF001


@pytest.mark.parametrize("sample", sorted(EXPECTED_TEMPLATE))
def test_a_slack_header_shows_one_icon(builtin: TemplateSet, samples: dict[str, KeptnEvent], sample: str) -> None:
    """The templates start titles with an emoji; Slack's renderer adds its own only to a title without one."""
    message = builtin.render(samples[sample])
    header = render("slack", message)["blocks"][0]["text"]["text"]
    assert header == message.title, header
    assert not header.startswith(":"), header


@pytest.mark.parametrize("sample", sorted(EXPECTED_TEMPLATE))
def test_at_most_two_bridge_buttons_with_the_same_two_titles(
    builtin: TemplateSet, samples: dict[str, KeptnEvent], sample: str
) -> None:
    """One for the event's own page, one for the run's trace; never three into the same run."""
    message = builtin.render(samples[sample])
    bridge = [link for link in message.links if link.url.startswith(BRIDGE)]
    assert len(bridge) <= 2, bridge
    assert [link.title for link in bridge] in ([], [RUN_TRACE], [OPEN_IN_BRIDGE], [OPEN_IN_BRIDGE, RUN_TRACE]), bridge
    if samples[sample].keptn_context:
        assert bridge, f"{sample}: a message of a run links to it"
