"""docs/recipes.md and docs/setup.md stay true: the shipped configs pass `check`, sample events reach exactly
the channels each recipe promises (`keptn-notifier routes`), and the commands the two pages show exist and
answer as shown (those of docs/operations.md and docs/configuration.md exist too)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from notifier.cli.main import main
from notifier.config.load import load_config
from notifier.config.source import ConfigError
from tests.fakes import FakeChatServer, Reply
from tests.helpers import CONFIG_VARIABLES, REPO, dead_letters, keptn_event, run_cli, write_event
from tests.payload_checks import assert_no_unescaped_control, assert_valid_slack_payload, assert_valid_teams_envelope

CONFIGS = REPO / "examples" / "configs"
EVENTS = REPO / "notifier" / "samples"
RECIPES = REPO / "docs" / "recipes.md"
SETUP = REPO / "docs" / "setup.md"
# The pages whose `keptn-notifier ...` commands are checked against the CLI (the kubectl exec lines live in
# operations.md since the setup page links there).
COMMAND_PAGES = (SETUP, RECIPES, REPO / "docs" / "operations.md", REPO / "docs" / "configuration.md")
# `check` and `routes` post nothing: values of the right shape stand in for the credentials.
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-recipe-test",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/recipetest",
    "TEAMS_WEBHOOK_URL": "https://example.invalid/workflows/1/triggers/manual/paths/invoke?sv=1.0&sig=recipetestsig",
}
SHIPPED = sorted(CONFIGS.glob("*.yaml"))


def test_five_recipes_are_shipped() -> None:
    assert [path.name for path in SHIPPED] == [
        "approvals-to-teams.yaml",
        "problems-to-oncall.yaml",
        "production-quality-gates.yaml",
        "project-to-webhook.yaml",
        "projects-to-channels.yaml",
    ]


@pytest.mark.parametrize("config", SHIPPED, ids=lambda path: path.name)
async def test_every_shipped_config_passes_check(config: Path) -> None:
    run = await run_cli("check", "--config", config, env=SECRETS)
    assert run.code == 0, run
    assert run.stdout.startswith("ok: ") and "warning" not in run.stdout, run


@pytest.mark.parametrize("config", SHIPPED, ids=lambda path: path.name)
def test_no_shipped_config_holds_a_credential(config: Path) -> None:
    # Without the variables the file cannot load: every credential comes from the environment.
    with pytest.raises(ConfigError, match="environment variable [A-Z_]+ is not set"):
        load_config(config, env={})
    text = config.read_text()
    for secret in SECRETS.values():
        assert secret not in text
    assert not re.search(r"xox[abp]-|hooks\.slack\.com/services/|sig=", text), config


def test_recipes_page_shows_each_shipped_file_verbatim() -> None:
    page = RECIPES.read_text()
    shown = dict(
        re.findall(
            r"File: \[`examples/configs/([\w.-]+)`\]\(\.\./examples/configs/\1\)\n\n```yaml\n(.*?)```", page, re.S
        )
    )
    assert sorted(shown) == [path.name for path in SHIPPED]
    for path in SHIPPED:
        assert shown[path.name] == path.read_text(), f"docs/recipes.md shows another {path.name}"


# -- what each recipe sends where ------------------------------------------------------------------------


def event(type_: str, **data: Any) -> dict[str, Any]:
    """A Keptn event of sockshop/production/carts (result fail, status succeeded) unless `data` says otherwise."""
    return keptn_event("recipe", type_, **data)


EVALUATION = "sh.keptn.event.evaluation.finished"
APPROVAL = "sh.keptn.event.approval.triggered"
SEQUENCE_END = "sh.keptn.event.production.delivery.finished"
# (recipe file, event: a file in notifier/samples or an event, channels it must reach)
Case = tuple[str, str | dict[str, Any], set[str]]
CASES: list[Case] = [
    # (a) failed quality gates of production, of every project, including evaluations that could not run
    ("production-quality-gates", event(EVALUATION), {"prod-gates"}),
    ("production-quality-gates", event(EVALUATION, project="webshop", service="front"), {"prod-gates"}),
    ("production-quality-gates", event(EVALUATION, status="errored"), {"prod-gates"}),
    ("production-quality-gates", event(EVALUATION, result="pass"), set()),
    ("production-quality-gates", event(EVALUATION, result="warning"), set()),
    ("production-quality-gates", "evaluation-finished-fail.json", set()),  # staging
    ("production-quality-gates", event(SEQUENCE_END), set()),
    # (b) every event of sockshop, .triggered and .started included; nothing of other projects or none
    ("project-to-webhook", "deployment-started.json", {"sockshop-hook"}),
    ("project-to-webhook", "deployment-triggered.json", {"sockshop-hook"}),
    ("project-to-webhook", "project-create-finished.json", {"sockshop-hook"}),
    ("project-to-webhook", "evaluation-finished-pass.json", {"sockshop-hook"}),
    ("project-to-webhook", event("sh.keptn.event.test.started", project="webshop"), set()),
    ("project-to-webhook", "tekton-pipelinerun-successful.json", set()),
    # (c) every approval.triggered, of any stage; nothing else
    ("approvals-to-teams", "approval-triggered-manual.json", {"approvals"}),
    ("approvals-to-teams", event(APPROVAL, stage="staging", result="pass"), {"approvals"}),
    # an automatic approval needs nobody: not posted unless the route sets automatic_approvals (issue 9)
    ("approvals-to-teams", event(APPROVAL, result="pass", approval={"pass": "automatic"}), set()),
    ("approvals-to-teams", event("sh.keptn.event.approval.finished", result="pass"), set()),
    ("approvals-to-teams", "evaluation-finished-fail.json", set()),
    # (d) both shapes of problems, in any stage, to Slack and Teams; not the remediation's later events
    ("problems-to-oncall", "remediation-triggered-dynatrace.json", {"oncall", "oncall-teams"}),
    ("problems-to-oncall", "remediation-triggered-prometheus.json", {"oncall", "oncall-teams"}),
    ("problems-to-oncall", "problem-legacy-resolved.json", {"oncall", "oncall-teams"}),
    (
        "problems-to-oncall",
        event("sh.keptn.event.staging.remediation.triggered", stage="staging"),
        {"oncall", "oncall-teams"},
    ),
    ("problems-to-oncall", event("sh.keptn.event.get-action.triggered"), set()),
    ("problems-to-oncall", event(EVALUATION), set()),
    # (e) each project to its team; failed sequence ends of every project to the platform as well
    ("projects-to-channels", "sequence-finished-aborted.json", {"checkout", "platform"}),
    ("projects-to-channels", "sequence-finished-timeout.json", {"checkout", "platform"}),
    ("projects-to-channels", "sequence-finished.json", {"checkout"}),
    ("projects-to-channels", "evaluation-finished-fail.json", {"checkout"}),  # a task end, not a sequence end
    ("projects-to-channels", event(EVALUATION, project="payments", result="pass"), {"payments"}),
    ("projects-to-channels", event(SEQUENCE_END, project="billing"), {"payments", "platform"}),
    ("projects-to-channels", event(SEQUENCE_END, project="webshop"), {"platform"}),
    ("projects-to-channels", event(EVALUATION, project="webshop"), set()),
]


def use_environment(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    """Only `env`, not the developer's shell, decides what the in-process CLI sees."""
    for variable in CONFIG_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)


def routes(
    config: str,
    source: str | dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: Mapping[str, str] = SECRETS,
) -> set[str]:
    """The channels `keptn-notifier routes EVENT --config examples/configs/CONFIG.yaml` names."""
    use_environment(monkeypatch, env)
    path = EVENTS / source if isinstance(source, str) else write_event(tmp_path / "event.json", source)
    capsys.readouterr()
    assert main(["routes", str(path), "--config", str(CONFIGS / f"{config}.yaml")]) == 0
    output = capsys.readouterr().out
    reached = re.search(r"^channels: (.*)$", output, re.M)
    assert reached, output
    return set() if reached.group(1) == "none" else set(reached.group(1).split(", "))


def case_id(case: Case) -> str:
    config, source, _ = case
    return f"{config}:{source if isinstance(source, str) else source['type'] + '/' + source['data']['project']}"


@pytest.mark.parametrize(("config", "source", "expected"), CASES, ids=[case_id(case) for case in CASES])
def test_each_recipe_sends_what_its_doc_says(
    config: str,
    source: str | dict[str, Any],
    expected: set[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert routes(config, source, tmp_path, monkeypatch, capsys) == expected


def test_the_environments_subscription_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Recipe (b): in Kubernetes PUBSUB_TOPIC comes from the ConfigMap, and then the file's setting is not used.
    narrow = {**SECRETS, "PUBSUB_TOPIC": "sh.keptn.event.*.*.finished,sh.keptn.event.evaluation.finished"}
    assert routes("project-to-webhook", "deployment-started.json", tmp_path, monkeypatch, capsys, narrow) == set()
    assert routes("project-to-webhook", "sequence-finished.json", tmp_path, monkeypatch, capsys, narrow) == {
        "sockshop-hook"
    }


def shown_routes_outputs() -> list[tuple[list[str], str]]:
    """Each `$ keptn-notifier routes ...` block of docs/recipes.md: the arguments, and the output shown."""
    blocks = re.findall(r"```\n\$ keptn-notifier (routes .*?)\n(.*?)```", RECIPES.read_text(), re.S)
    return [(command.split(), output) for command, output in blocks]


SHOWN = shown_routes_outputs()


@pytest.mark.parametrize(("args", "shown"), SHOWN, ids=[Path(args[-1]).stem for args, _ in SHOWN])
def test_the_routes_output_shown_is_what_routes_prints(
    args: list[str], shown: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_environment(monkeypatch, SECRETS)
    monkeypatch.chdir(REPO)
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().out == shown


def test_every_recipe_shows_a_routes_example() -> None:
    configs = {args[args.index("--config") + 1] for args, _ in SHOWN}
    assert configs == {f"examples/configs/{path.name}" for path in SHIPPED}


# -- recipe (d): the on-call people are mentioned, from the config only -------------------------------------


def rendered(
    source: str, channel: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    """`keptn-notifier render EVENT --config problems-to-oncall.yaml --channel CHANNEL`, as JSON."""
    use_environment(monkeypatch, SECRETS)
    capsys.readouterr()
    config = CONFIGS / "problems-to-oncall.yaml"
    assert main(["render", str(EVENTS / source), "--config", str(config), "--channel", channel]) == 0
    payload: dict[str, Any] = json.loads(capsys.readouterr().out)
    return payload


@pytest.mark.parametrize("source", ["remediation-triggered-dynatrace.json", "remediation-triggered-prometheus.json"])
def test_recipe_d_mentions_the_on_call_people_in_slack_and_teams(
    source: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    slack = rendered(source, "oncall", monkeypatch, capsys)
    assert_valid_slack_payload(slack)
    assert slack["blocks"][1] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "<!subteam^SAZ94GDB8>", "verbatim": True},
    }
    assert slack["text"].startswith("<!subteam^SAZ94GDB8> Problem open")
    teams = rendered(source, "oncall-teams", monkeypatch, capsys)
    assert_valid_teams_envelope(teams)
    card = teams["attachments"][0]["content"]
    assert card["body"][1] == {"type": "TextBlock", "text": "<at>On-call</at>", "wrap": True}
    assert card["msteams"]["entities"] == [
        {"type": "mention", "text": "<at>On-call</at>", "mentioned": {"id": "oncall@example.com", "name": "On-call"}}
    ]


def test_recipe_d_posts_a_legacy_problem_without_a_mention(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A route cannot tell an open legacy problem from a resolved one, and a resolved one should wake nobody.
    slack = rendered("problem-legacy-resolved.json", "oncall", monkeypatch, capsys)
    assert_no_unescaped_control(slack)
    teams = rendered("problem-legacy-resolved.json", "oncall-teams", monkeypatch, capsys)
    assert "entities" not in teams["attachments"][0]["content"]["msteams"]


async def test_a_mention_written_into_a_template_notifies_nobody(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "oncall.yaml").write_text('title: "<!subteam^SAZ94GDB8> problem: {{ where }}"\ntext: "<@U024BE7LH>"\n')
    env = {"TEMPLATES_DIR": str(templates)}
    problem = EVENTS / "remediation-triggered-dynatrace.json"
    slack = await run_cli("render", problem, "--format", "slack", "--template", "oncall", env=env)
    assert slack.code == 0, slack
    assert "&lt;!subteam^SAZ94GDB8&gt; problem: sockshop/production/carts" in slack.stdout, slack
    assert "<!subteam" not in slack.stdout and "<@U024BE7LH>" not in slack.stdout, slack
    teams = await run_cli("render", problem, "--format", "teams", "--template", "oncall", env=env)
    assert teams.code == 0, teams
    assert "subteam^SAZ94GDB8" in teams.stdout and "entities" not in teams.stdout, teams


# -- docs/setup.md: the not_in_channel story, as the page tells it -------------------------------------------


async def test_not_in_channel_is_parked_and_retried_as_setup_md_says(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    page = SETUP.read_text()
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1-2-setup",
        "SLACK_CHANNEL": "C0123456789",
        "SLACK_API_URL": f"{chat_server.url}/api/",
    }
    chat_server.on("/api/chat.postMessage", Reply.api_error("not_in_channel"), Reply.api_error("not_in_channel"))

    test = await run_cli("send-test", "slack-bot", env=env)
    assert test.code == 1, test
    assert test.stdout.strip() in page, test

    state = tmp_path / "state"
    sample = EVENTS / "evaluation-finished-fail.json"
    replay = await run_cli("replay", sample, "--state-dir", state, env=env)
    assert replay.code == 1 and "1 dead" in replay.stderr, replay
    assert "parked as dead: not_in_channel" in replay.stderr, replay
    [letter] = await dead_letters(state)
    assert (letter["channel"], letter["reason"]) == (
        "slack-bot",
        'not_in_channel: HTTP 200: {"ok":false,"error":"not_in_channel"}',
    )
    assert letter["reason"] in page

    retried = await run_cli("dead", "retry", str(letter["id"]), "--state-dir", state, env=env)
    assert retried.code == 0 and retried.stdout.strip() in page, retried
    unknown = await run_cli("dead", "retry", "99", "--state-dir", state, env=env)
    assert unknown.code == 1 and unknown.stderr.strip() in page, unknown

    # The bot was invited: the fake answers ok now, and the next run on this state sends the retried one.
    again = await run_cli("replay", sample, "--state-dir", state, env=env)
    assert again.code == 0 and "0 dead, 0 still pending" in again.stderr, again
    # send-test and the parked run message were refused; then the run message and, in its thread, the notification
    posts = [request.json for request in chat_server.received_on("/api/chat.postMessage")]
    assert len(posts) == 4 and "thread_ts" not in posts[2] and "thread_ts" in posts[3], posts
    empty = await run_cli("dead", "list", "--state-dir", state, env=env)
    assert empty.stdout.strip() == "no dead letters" and "`no dead letters`" in page, empty


# -- every command the pages show exists, with the flags shown -------------------------------------------------


# `keptn-notifier` as a command word with arguments (not the end of `deploy/keptn-notifier`).
COMMAND_WORD = re.compile(r"(?:^|(?<=\s))keptn-notifier\s+(?=\S)")


def documented_commands() -> list[tuple[str, list[str]]]:
    """(where, the words after `keptn-notifier`) for each command in a code block or inline code of the pages."""
    found = []
    for page in COMMAND_PAGES:
        text = page.read_text()
        in_block = False
        for line in text.replace("\\\n", " ").splitlines():
            if line.lstrip().startswith("```"):
                in_block = not in_block
            elif in_block and (calls := list(COMMAND_WORD.finditer(line))):
                # The last one: `kubectl exec deploy/keptn-notifier -c keptn-notifier -- keptn-notifier check`.
                found.append((f"{page.name}: {line.strip()}", line[calls[-1].end() :].split()))
        found += [
            (f"{page.name}: `keptn-notifier {inline}`", inline.split())
            for inline in re.findall(r"`keptn-notifier ([^`]+)`", text)
        ]
    return found


COMMANDS = documented_commands()


@pytest.mark.parametrize(("where", "words"), COMMANDS, ids=[where for where, _ in COMMANDS])
def test_documented_commands_exist_with_their_flags(
    where: str, words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    command = words[:2] if words[0] == "dead" else words[:1]
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0, where
    usage = capsys.readouterr().out
    for flag in (word.split("=", 1)[0] for word in words if word.startswith("--")):
        assert re.search(rf"(^|\s|\[){re.escape(flag)}\b", usage), f"{where}: {flag} is not an option of {command}"
