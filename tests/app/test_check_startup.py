"""`check` and start-up agree: what stops `serve` is what `check` reports, with the README's exit codes
(2 for a config error, 1 for template problems), and both warn about subscriptions that can match nothing and
about variables named like the service's that it does not read."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.helpers import CONFIG_VARIABLES, REPO, Cli, ServiceProcess, in_process_cli, running_service

MISSING_TEMPLATE = {
    "channels": {"log": {"type": "console"}},
    "routes": [{"name": "gates", "channels": ["log"], "template": "quality-gate"}],
}


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    yield from in_process_cli(capsys, monkeypatch)


def write_config(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "notifier.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def serve(tmp_path: Path, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`keptn-notifier serve` as a subprocess: if it does not stop, the timeout ends the test, not a hang."""
    clean = {key: value for key, value in os.environ.items() if key not in CONFIG_VARIABLES}
    command = [sys.executable, "-m", "notifier", "serve", "--host", "127.0.0.1", "--port", "0"]
    return subprocess.run(
        [*command, "--state-dir", str(tmp_path / "state"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={**clean, **(env or {})},
        check=False,
    )


def test_a_route_naming_a_missing_template_stops_start_up_as_check_reports_it(cli: Cli, tmp_path: Path) -> None:
    config = write_config(tmp_path, MISSING_TEMPLATE)
    started = serve(tmp_path, "--config", config)
    assert started.returncode == 2, started
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"keptn-notifier: {config}: "), started
    problem = "route gates: template 'quality-gate' does not exist"
    assert problem in lines[0] and "TEMPLATES_DIR" in lines[0] and "quality-gate.yaml" in lines[0], started

    checked = cli("check", "--config", config)
    assert checked.code == 1, checked
    assert f"problem: {problem}" in checked.stdout and "check failed: 1 problem(s)" in checked.stdout, checked

    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "quality-gaet.yaml").write_text('title: "{{ type }}"\n')
    cli.env(TEMPLATES_DIR=str(templates))
    typo = cli("check", "--config", config)
    assert typo.code == 1 and "did you mean 'quality-gaet'?" in typo.stdout, typo
    assert f"add quality-gate.yaml to {templates}" in typo.stdout, typo


def test_check_exits_1_for_every_template_problem_and_2_for_a_config_error(cli: Cli, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    broken = templates / "sh.keptn.event.test.finished.yaml"
    broken.write_text('title: "{{ project "\n')
    cli.env(TEMPLATES_DIR=str(templates))
    syntax = cli("check")
    assert syntax.code == 1, syntax
    [problem] = [line for line in syntax.stdout.splitlines() if line.startswith("problem: ")]
    assert str(broken) in problem and "line 1" in problem, syntax
    assert "check failed: 1 problem(s)" in syntax.stdout and syntax.stderr == "", syntax

    # The same template stops every other command: it cannot be used at all.
    rendered = cli("render", REPO / "notifier" / "samples" / "evaluation-finished-fail.json")
    assert rendered.code == 2 and str(broken) in rendered.stderr, rendered

    broken.unlink()
    config = write_config(tmp_path, {"channels": {"log": {"type": "console", "colour": "red"}}, "routes": []})
    config_error = cli("check", "--config", config)
    assert config_error.code == 2 and config_error.stdout == "", config_error
    assert config_error.stderr.startswith(f"keptn-notifier: invalid configuration:\n  {config}, line 4"), config_error


def test_the_readme_states_these_exit_codes() -> None:
    readme = (REPO / "README.md").read_text()
    [line] = [line for line in readme.splitlines() if line.startswith("keptn-notifier check")]
    assert "exit 2 for a config error, 1 for template problems" in line, line


@pytest.mark.parametrize(
    ("topic", "warned"),
    [
        ("sh.keptn.*", "PUBSUB_TOPIC: 'sh.keptn.*' can match no Keptn event; did you mean 'sh.keptn.>'?"),
        (
            "sh.keptn.event.evaluation.finished sh.keptn.log.error",
            "'sh.keptn.event.evaluation.finished sh.keptn.log.error' has a space inside",
        ),
        (
            "sh.keptn.event.*.finshed",
            "'sh.keptn.event.*.finshed' can match no Keptn event; did you mean 'sh.keptn.event.*.finished'?",
        ),
    ],
)
def test_check_warns_for_a_subscription_that_can_match_no_keptn_event(cli: Cli, topic: str, warned: str) -> None:
    cli.env(PUBSUB_TOPIC=topic)
    run = cli("check")
    assert run.code == 0, run
    assert any(line.startswith("warning: PUBSUB_TOPIC: ") and warned in line for line in run.stdout.splitlines()), run


def test_check_warns_for_a_route_whose_types_can_match_nothing_and_not_for_good_ones(cli: Cli, tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "channels": {"log": {"type": "console"}},
            "routes": [
                {"name": "broad", "match": {"types": ["sh.keptn.*"]}, "channels": ["log"]},
                {
                    "name": "fine",
                    "match": {"types": ["sh.keptn.event.*.*.finished", "dev.tekton.*"]},
                    "channels": ["log"],
                },
            ],
        },
    )
    run = cli("check", "--config", config)
    assert run.code == 0, run
    warnings = [line for line in run.stdout.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: route broad: match.types: 'sh.keptn.*' can match no Keptn event; did you mean 'sh.keptn.>'?"
    ]
    assert cli("check").stdout.startswith("ok: "), "the default PUBSUB_TOPIC must not be warned about"


async def test_start_up_logs_the_same_subscription_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "notifier.service")
    async with running_service(
        tmp_path, {**MISSING_TEMPLATE, "routes": [{"name": "all", "channels": ["log"]}]}, pubsub_topic="sh.keptn.*"
    ):
        pass
    assert "PUBSUB_TOPIC: 'sh.keptn.*' can match no Keptn event; did you mean 'sh.keptn.>'?" in caplog.messages


# -- environment variables with the service's prefixes that it does not read -----------------------------------


def test_check_names_a_misspelt_variable_and_the_one_meant_and_still_exits_0(cli: Cli) -> None:
    cli.env(SLACK_WEBHOOK="https://hooks.slack.com/services/T0/B0/secretpath", NOTIFIER_CONFG="/etc/notifier.yaml")
    run = cli("check")
    assert run.code == 0, run
    warnings = [line for line in run.stdout.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: environment variable NOTIFIER_CONFG is ignored: keptn-notifier reads no such variable; "
        "did you mean 'NOTIFIER_CONFIG'?",
        "warning: environment variable SLACK_WEBHOOK is ignored: keptn-notifier reads no such variable; "
        "did you mean 'SLACK_WEBHOOK_URL'?",
    ], run
    # The fallback it explains: messages go to the console.
    assert run.stdout.splitlines()[-1].startswith("ok: 1 channel(s), 1 route(s)"), run
    assert "secretpath" not in run.stdout + run.stderr


def test_check_is_quiet_about_the_variables_the_service_reads(cli: Cli) -> None:
    cli.env(TEAMS_WEBHOOK_URL="https://x.logic.azure.com/workflows/1?sig=abc", KEPTN_BRIDGE_URL="https://b.example")
    run = cli("check")
    assert run.code == 0 and run.stdout.startswith("ok: 1 channel(s)"), run


def test_serve_logs_the_misspelt_variable_at_start_up(tmp_path: Path) -> None:
    """Smoke test: the real process, its JSON log on stderr."""
    config = {"channels": {"log": {"type": "console"}}, "routes": [{"name": "all", "channels": ["log"]}]}
    clean = {key: value for key, value in os.environ.items() if key not in CONFIG_VARIABLES}
    service = ServiceProcess(config, tmp_path, env={**clean, "TEAMS_WEBHOOK": "https://x.logic.azure.com/w?sig=s"})
    try:
        service.start()
        assert service.terminate() == 0
    finally:
        service.close()
    warned = [
        record["message"]
        for record in map(json.loads, service.stderr().splitlines())
        if record["logLevel"] == "WARNING" and "TEAMS_WEBHOOK" in record["message"]
    ]
    assert warned == [
        "environment variable TEAMS_WEBHOOK is ignored: keptn-notifier reads no such variable; "
        "did you mean 'TEAMS_WEBHOOK_URL'?"
    ], service.stderr()
