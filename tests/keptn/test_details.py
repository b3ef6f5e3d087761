"""Issue 9.2: each message shows what its event carries that a reader needs, and nothing twice.

Every test renders a realistic event (the shapes of Keptn's spec, in notifier/samples/, or a variant of one
written to a temporary file) through the command line as a user runs it, `keptn-notifier render FILE`, and
checks the printed text. The Slack and Teams payloads of the new samples are checked against the platform
limits and the Adaptive Card schema, and hostile label text is shown escaped.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier.cli.main import main
from notifier.config.settings import ENV_SETTINGS
from tests.payload_checks import (
    UNESCAPED_MARKUP,
    assert_no_unescaped_control,
    assert_plain_markdown,
    assert_valid_slack_payload,
    assert_valid_teams_envelope,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "notifier" / "samples"
BRIDGE = "https://keptn.example.com/bridge"
NEW_SAMPLES = (
    "action-triggered",
    "evaluation-finished-disagreeing",
    "evaluation-finished-unusual-statuses",
    "evaluation-triggered",
    "get-action-finished",
    "get-action-triggered",
    "get-sli-triggered",
    "monitoring-configure",
    "problem-open-spec",
    "release-triggered",
    "test-started",
    "test-triggered",
)

Render = Callable[..., str]


@pytest.fixture
def render_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Render]:
    """`keptn-notifier render FILE ARGS...` in this process: its stdout, after checking it exited 0."""
    for variable in (*ENV_SETTINGS, "NOTIFIER_CONFIG", "SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "TEAMS_WEBHOOK_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KEPTN_BRIDGE_URL", BRIDGE)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def run(path: Path | str, *args: str) -> str:
        capsys.readouterr()
        code = main(["render", str(path), *args])
        out, err = capsys.readouterr()
        assert code == 0, err
        # The only thing on stderr may be render's note that serve would not subscribe to a triggered task.
        assert all(line.startswith("note: serve would ignore this event") for line in err.splitlines()), err
        return out

    yield run
    # `render` sets up the service's logging on the root logger; give pytest's back.
    root.handlers[:] = handlers
    root.setLevel(level)


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def variant(tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of a sample with `change` applied to it, as a file a user could render."""
    event = sample(name)
    change(event)
    path = tmp_path / f"{name}-variant.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    return path


def lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines()]


# ---- triggered tasks ---------------------------------------------------------------------------------------


def test_deployment_triggered_shows_its_strategy(render_cli: Render) -> None:
    out = lines(render_cli(EXAMPLES / "deployment-triggered.json"))
    assert out[0] == "[INFO] 🚀 Deployment triggered: sockshop/staging/carts"
    assert "Deployment strategy: blue_green_service" in out
    assert "Image: ghcr.io/example/carts:0.13.2" in out


def test_release_triggered_shows_strategy_uris_and_deployments(render_cli: Render) -> None:
    out = lines(render_cli(EXAMPLES / "release-triggered.json"))
    assert out[0] == "[INFO] 🚀 Release triggered: sockshop/dev/carts"
    assert "Deployment strategy: blue_green_service" in out
    assert "Deployments: carts-primary, carts-generated" in out
    assert "Inside the cluster: http://carts.sockshop-dev.svc.cluster.local" in out
    assert "link: Open https://carts.dev.sockshop.example.com <https://carts.dev.sockshop.example.com>" in out, out


def test_test_triggered_shows_the_test_strategy(render_cli: Render) -> None:
    out = lines(render_cli(EXAMPLES / "test-triggered.json"))
    assert out[0] == "[INFO] 🚀 Tests triggered: sockshop/dev/carts"
    assert "Test strategy: performance" in out


def test_evaluation_triggered_shows_its_window_or_timeframe(render_cli: Render, tmp_path: Path) -> None:
    out = lines(render_cli(EXAMPLES / "evaluation-triggered.json"))
    assert "Time window: 2026-11-21 08:02:06 UTC – 2026-11-21 08:10:36 UTC (8m 30s)" in out  # noqa: RUF001

    def timeframe_only(event: dict[str, Any]) -> None:
        event["data"]["evaluation"] = {"timeframe": "10m"}

    assert "Time window: the last 10m" in lines(render_cli(variant(tmp_path, "evaluation-triggered", timeframe_only)))

    def timeframe_from_start(event: dict[str, Any]) -> None:
        event["data"]["evaluation"] = {"start": "2026-11-21T08:02:06Z", "timeframe": "5m"}

    out = lines(render_cli(variant(tmp_path, "evaluation-triggered", timeframe_from_start)))
    assert "Time window: 5m from 2026-11-21 08:02:06 UTC" in out


def test_get_sli_triggered_shows_provider_and_indicators(render_cli: Render) -> None:
    out = lines(render_cli(EXAMPLES / "get-sli-triggered.json"))
    assert out[0] == "[INFO] 🚀 SLI retrieval triggered: sockshop/dev/carts"
    assert "SLI provider: dynatrace" in out
    assert "SLIs requested: throughput, error_rate, response_time_p95" in out


# ---- remediation -------------------------------------------------------------------------------------------


def test_get_action_triggered_shows_the_problem(render_cli: Render) -> None:
    out = lines(render_cli(EXAMPLES / "get-action-triggered.json"))
    assert out[1:3] == [
        "Problem: Response time degradation",
        "Root cause: Response time P90 above 600 ms for 5 minutes on carts-primary",
    ]


def test_get_action_finished_shows_the_chosen_action(render_cli: Render) -> None:
    out = lines(render_cli(EXAMPLES / "get-action-finished.json"))
    assert out[0].startswith("[SUCCESS] ✅ ")
    assert "Action: Feature toggling (toggle-feature): Turns the item cache on" in out


def test_action_triggered_shows_problem_and_action(render_cli: Render) -> None:
    out = lines(render_cli(EXAMPLES / "action-triggered.json"))
    assert out[0] == "[INFO] 🚀 Remediation action triggered: sockshop/production/carts"
    assert out[1:4] == [
        "Problem: Response time degradation",
        "Root cause: Response time P90 above 600 ms for 5 minutes on carts-primary",
        "Action: Feature toggling (toggle-feature): Turns the item cache on",
    ]


# ---- problems ----------------------------------------------------------------------------------------------


def test_a_problem_shows_severity_impact_and_start_and_no_placeholder_link(render_cli: Render) -> None:
    out = lines(render_cli(EXAMPLES / "problem-open-spec.json"))
    assert out[0] == "[FAILURE] 🚨 Problem open: Response Time Degradation"
    for expected in ("Severity: PERFORMANCE", "Impact: SERVICE", "Started: 2026-11-21 09:00:00 UTC"):
        assert expected in out
    # The spec's ProblemURL is "https://.../#problems/...": a button there would lead nowhere.
    assert not [line for line in out if line.startswith("link: Open problem")], out
    assert any(line.startswith("link: Run trace") for line in out)


def test_a_problem_with_a_real_url_links_to_it(render_cli: Render, tmp_path: Path) -> None:
    url = "https://abc12345.live.dynatrace.com/#problems/problemdetails;pid=93a5-3fas-a09d-8ckf"

    def real_url(event: dict[str, Any]) -> None:
        event["data"]["ProblemURL"] = url

    out = lines(render_cli(variant(tmp_path, "problem-open-spec", real_url)))
    assert f"link: Open problem <{url}>" in out


def test_a_problem_without_severity_or_start_shows_no_empty_facts(render_cli: Render) -> None:
    out = render_cli(EXAMPLES / "remediation-triggered-prometheus.json")
    assert "Severity:" not in out and "Impact:" not in out and "Started:" not in out


# ---- administration ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "shown"),
    [
        ("https://keptn-bot:ghp_s3cretT0ken@github.com/acme/sockshop.git", "https://github.com/acme/sockshop.git"),
        (
            "https://oauth2:glpat-x1y2@gitlab.example.com/team/sockshop.git?private_token=z9",
            "https://gitlab.example.com/team/sockshop.git",
        ),
        ("https://ghp_s3cretT0ken@github.com/acme/sockshop", "https://github.com/acme/sockshop"),
        ("git@github.com:acme/sockshop.git", "git@github.com:acme/sockshop.git"),
    ],
)
def test_project_create_shows_the_git_remote_without_credentials(
    render_cli: Render, tmp_path: Path, remote: str, shown: str
) -> None:
    def with_remote(event: dict[str, Any]) -> None:
        event["data"]["createdProject"]["gitRemoteURL"] = remote

    path = variant(tmp_path, "project-create-finished", with_remote)
    out = render_cli(path)
    assert f"Git remote: {shown}" in lines(out)
    outputs = (out, render_cli(path, "--format", "slack"), render_cli(path, "--format", "teams"))
    for secret in ("ghp_s3cretT0ken", "glpat-x1y2", "z9", "keptn-bot", "oauth2"):
        assert not [output for output in outputs if secret in output], secret


def test_project_create_triggered_shows_its_git_remote(render_cli: Render, tmp_path: Path) -> None:
    # project.create.triggered carries the remote at the top of data (spec: ProjectCreateData).
    event = {
        "specversion": "1.0",
        "id": "f1e2d3c4-b5a6-4789-8a0b-1c2d3e4f5a6b",
        "source": "api-service",
        "type": "sh.keptn.event.project.create.triggered",
        "shkeptncontext": "5e7a1b90-3c2d-4f8e-a6b4-91c0d2e3f4a5",
        "data": {"projectName": "sockshop", "gitRemoteURL": "https://u:p@git.example.com/keptn/sockshop.git"},
    }
    path = tmp_path / "project-create-triggered.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    out = lines(render_cli(path))
    assert "Git remote: https://git.example.com/keptn/sockshop.git" in out


def test_project_create_triggered_names_its_project_as_keptns_own_example_does(render_cli: Render) -> None:
    """keptn/spec's project.create.triggered has no `data.project`: the name is only in `data.projectName`."""
    out = lines(render_cli(EXAMPLES / "project-create-triggered.json"))
    assert out[0].endswith("Project creation triggered: sockshop")
    assert "Project: sockshop" in out
    assert "Git remote: https://git.example.com/keptn/sockshop.git" in out


def test_monitoring_configure_shows_the_monitoring_type(render_cli: Render) -> None:
    out = lines(render_cli(EXAMPLES / "monitoring-configure.json"))
    assert out[0].startswith("[INFO] ") and "Monitoring configuration" in out[0]
    assert "Monitoring: dynatrace" in out


# ---- labels ------------------------------------------------------------------------------------------------

HOSTILE = "<!channel> <@U024BE7LH> [click](https://evil.example) <at>All</at>"


def many_labels(event: dict[str, Any]) -> None:
    labels = {f"label{number:02d}": f"value {number}" for number in range(14)}
    labels["buildId"] = "x" * 500
    labels["owner"] = HOSTILE
    labels["CI run"] = "https://ci.example.com/job/carts/1861/"
    labels["Docs"] = "https://.../placeholder"
    event["data"]["labels"] = labels


def test_labels_are_shown_bounded_and_link_values_become_buttons(render_cli: Render, tmp_path: Path) -> None:
    out = lines(render_cli(variant(tmp_path, "deployment-triggered", many_labels)))
    (shown,) = [line for line in out if line.startswith("Labels: ")]
    pairs = shown.removeprefix("Labels: ").split(" · ")
    assert len(pairs) == 10
    assert pairs[0] == "label00: value 0"
    assert pairs[-1].endswith("(and 7 more)")
    # A real URL is a button, not text; a placeholder is neither a button nor worth hiding.
    assert "link: CI run <https://ci.example.com/job/carts/1861/>" in out
    assert "https://ci.example.com" not in shown
    assert not [line for line in out if "placeholder" in line and line.startswith("link:")]


def test_long_label_values_are_cut(render_cli: Render, tmp_path: Path) -> None:
    def long_value(event: dict[str, Any]) -> None:
        event["data"]["labels"] = {"buildId": "x" * 500, "owner": "team-checkout"}

    (shown,) = [
        line for line in lines(render_cli(variant(tmp_path, "deployment-triggered", long_value))) if "Labels" in line
    ]
    assert shown == f"Labels: buildId: {'x' * 119}… · owner: team-checkout"


def test_hostile_label_values_are_escaped_in_slack_and_teams(render_cli: Render, tmp_path: Path) -> None:
    def hostile(event: dict[str, Any]) -> None:
        event["data"]["labels"] = {"owner": HOSTILE, HOSTILE: "build-1"}

    path = variant(tmp_path, "deployment-triggered", hostile)
    slack = json.loads(render_cli(path, "--format", "slack"))
    assert_valid_slack_payload(slack)
    assert_no_unescaped_control(slack)
    assert "owner: &lt;!channel&gt; &lt;@U024BE7LH&gt;" in json.dumps(slack, ensure_ascii=False)
    teams = json.loads(render_cli(path, "--format", "teams"))
    assert_valid_teams_envelope(teams)
    facts = [
        fact
        for block in teams["attachments"][0]["content"]["body"]
        if block.get("type") == "FactSet"
        for fact in block["facts"]
    ]
    (labels,) = [fact for fact in facts if fact["title"] == "Labels"]
    assert labels["value"].startswith(r"owner: \<!channel> <@U024BE7LH> [click\](https://evil.example)")
    assert not UNESCAPED_MARKUP.search(labels["value"])
    assert_plain_markdown(labels["value"])


def test_the_problem_url_label_is_not_shown_twice(render_cli: Render) -> None:
    out = lines(render_cli(EXAMPLES / "remediation-triggered-dynatrace.json"))
    assert "Labels: owner: team-checkout" in out
    assert len([line for line in out if "abc12345.live.dynatrace.com" in line]) == 1


# ---- evaluation and .started -------------------------------------------------------------------------------


def test_an_evaluation_shows_score_and_result_once(render_cli: Render) -> None:
    out = render_cli(EXAMPLES / "evaluation-finished-fail.json")
    assert lines(out).count("Score: 33.33") == 1
    assert lines(out).count("Result: fail") == 1
    assert "33.33" not in out.replace("Score: 33.33", "")
    assert "of 100" not in out


def test_the_disagreeing_evaluation_of_keptns_spec_is_a_failure(render_cli: Render) -> None:
    out = lines(render_cli(EXAMPLES / "evaluation-finished-disagreeing.json"))
    assert out[0] == "[FAILURE] ❌ Evaluation failed: sockshop/dev/carts"
    assert out[1] == (
        "The event's outcome fields disagree (result: pass; evaluation result: fail; SLIs: 1 of 1 missed). "
        "This message shows the worst: fail."
    )
    assert out[2:4] == [
        "1 of 1 SLIs missed their pass criteria:",
        "• Response Time P95: 1002.63 (failed; pass if <=+10% (= 600); warning if <=+20% (= 800))",
    ]
    assert "Result: fail" in out and "Score: 0" in out
    assert "passed" not in " ".join(out)


def test_a_pass_with_an_sli_in_warning_is_not_shown_as_a_success(render_cli: Render, tmp_path: Path) -> None:
    # Keptn passes a gate whose total score clears the threshold even when an SLI is only in warning.
    def one_warning(event: dict[str, Any]) -> None:
        error_rate = event["data"]["evaluation"]["indicatorResults"][2]
        error_rate.update(status="warning", score=0.5)
        error_rate["value"]["value"] = 0.031
        error_rate["passTargets"][0]["violated"] = True
        event["data"]["evaluation"]["score"] = 83.33333333333334

    assert lines(render_cli(EXAMPLES / "evaluation-finished-pass.json"))[:2] == [
        "[SUCCESS] ✅ Evaluation passed: sockshop/staging/carts",
        "All 3 SLIs passed.",
    ]
    out = lines(render_cli(variant(tmp_path, "evaluation-finished-pass", one_warning)))
    assert out[:4] == [
        "[WARNING] ⚠️ Evaluation warning: sockshop/staging/carts",
        "The event's outcome fields disagree (result: pass; evaluation result: pass; SLIs: 1 of 3 warned). "
        "This message shows the worst: warning.",
        "1 of 3 SLIs only met their warning criteria:",
        "• Error rate: 0.031 (warning; pass if <=0.02)",
    ]
    assert "Result: warning" in out and "Score: 83.33" in out


def test_each_unusual_sli_status_counts_as_docs_templates_says(render_cli: Render) -> None:
    # error: missed (a failure); pass with a violated pass target and a holding warning target: warned; no
    # status whose targets hold: no status; info: informational. The `error` SLI makes it a failure.
    out = lines(render_cli(EXAMPLES / "evaluation-finished-unusual-statuses.json"))
    assert out[0] == "[FAILURE] ❌ Evaluation failed: sockshop/dev/carts"
    assert out[1] == (
        "The event's outcome fields disagree (result: warning; evaluation result: warning; "
        "SLIs: 1 of 5 missed, 1 warned). This message shows the worst: fail."
    )
    assert out[2:10] == [
        "1 of 5 SLIs missed their pass criteria:",
        "• Error rate: 0 (error; pass if <=0.02): query returned no data",
        "1 of 5 SLIs only met their warning criteria:",
        "• Response time P95: 640.2 (pass, but a pass target is violated; pass if <600; warning if <800), key SLI",
        "1 of 5 SLIs had no status:",
        "• Response time P50: 210.4 (no status; pass if <300)",
        "Informational (no pass criteria):",
        "• Memory usage: 512.5",
    ]
    assert "Labels: buildId: build-1861" in out


def test_keptns_warning_stays_a_warning_when_nothing_says_fail(render_cli: Render, tmp_path: Path) -> None:
    """Issue 17: "warning, score 75" with a derived warning and an SLI without status is no failure."""

    def without_the_error_sli(event: dict[str, Any]) -> None:
        indicators = event["data"]["evaluation"]["indicatorResults"]
        indicators[:] = [item for item in indicators if item["status"] != "error"]

    out = lines(render_cli(variant(tmp_path, "evaluation-finished-unusual-statuses", without_the_error_sli)))
    assert out[0] == "[WARNING] ⚠️ Evaluation warning: sockshop/dev/carts"
    assert out[1:7] == [
        "1 of 4 SLIs only met their warning criteria:",
        "• Response time P95: 640.2 (pass, but a pass target is violated; pass if <600; warning if <800), key SLI",
        "1 of 4 SLIs had no status:",
        "• Response time P50: 210.4 (no status; pass if <300)",
        "Informational (no pass criteria):",
        "• Memory usage: 512.5",
    ]
    assert "Result: warning" in out and "Score: 75" in out
    assert not any("fail" in line.lower() or "❌" in line or "missed" in line for line in out)


def test_a_started_event_keeps_its_message(render_cli: Render) -> None:
    out = lines(render_cli(EXAMPLES / "test-started.json"))
    assert out[0] == "[INFO] ⏳ Tests started: sockshop/dev/carts"
    assert out[1:3] == [
        "Picked up by jmeter-service.",
        "Running performance test 'carts-load' with 2,000 virtual users",
    ]


# ---- every new sample on both platforms --------------------------------------------------------------------


@pytest.mark.parametrize("name", NEW_SAMPLES)
def test_the_new_samples_render_valid_slack_and_teams_payloads(render_cli: Render, name: str) -> None:
    slack = json.loads(render_cli(EXAMPLES / f"{name}.json", "--format", "slack"))
    assert_valid_slack_payload(slack)
    assert_no_unescaped_control(slack)
    assert_valid_teams_envelope(json.loads(render_cli(EXAMPLES / f"{name}.json", "--format", "teams")))


def test_render_as_a_user_runs_it() -> None:
    env = {key: value for key, value in os.environ.items() if key not in ENV_SETTINGS}
    run = subprocess.run(
        [sys.executable, "-m", "notifier", "render", str(EXAMPLES / "evaluation-finished-disagreeing.json")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=EXAMPLES.parent.parent,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("[FAILURE] ❌ Evaluation failed: sockshop/dev/carts\n"), run.stdout
    assert "disagree" in run.stdout and "1 of 1 SLIs missed their pass criteria:" in run.stdout
