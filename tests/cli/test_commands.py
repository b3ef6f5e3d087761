"""The command line as a user runs it: real files, a fake Slack and Teams on 127.0.0.1.

Most commands run in-process (`notifier.cli.main`, see tests/helpers.py); a few smoke tests run the real
interpreter: `python -m notifier` against the console script, a closed pipe, and `serve` with a live service.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes import FakeChatServer, Reply
from tests.helpers import (
    CONSOLE_SCRIPT,
    EXAMPLES,
    MESSAGE_START,
    REPO,
    SAMPLE,
    Run,
    ServiceProcess,
    assert_usage_error,
    cli_env,
    dead_letters,
    keptn_event,
    post_event,
    printed,
    run_cli,
    run_cli_process,
    write_event,
    write_yaml,
)
from tests.payload_checks import assert_valid_slack_payload, assert_valid_teams_envelope

EVERYTHING = "sh.keptn.>,dev.tekton.>"


def yaml_example(page: str, heading: str) -> str:
    """The first YAML block under `heading` of a page of the repository."""
    section = (REPO / page).read_text().split(f"\n{heading}\n", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert match, f"{page} has no YAML example under {heading!r}"
    return match.group(1)


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.2)


def hook_config(chat: FakeChatServer, tmp_path: Path, **settings: Any) -> Path:
    return write_yaml(
        tmp_path / "notifier.yaml",
        {
            "channels": {"hook": {"type": "slack", "webhook_url": f"{chat.url}/slack/T0/B0/cli", "rate_limit": "off"}},
            "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["hook"]}],
            "settings": {"retry_initial_backoff": "0.05s", **settings},
        },
    )


# -- help ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ((), ("serve", "render", "routes", "check", "send-test", "replay", "dead", "silence")),
        (("serve",), ("--config", "--host", "--port", "--admin-port", "--state-dir")),
        (("render",), ("event", "--channel", "--format", "--template", "slack,teams")),
        (("routes",), ("event", "--config")),
        (("check",), ("--config",)),
        (("send-test",), ("channel", "--config")),
        (("replay",), ("FILE|DIR", "--state-dir", "--timeout")),
        (("dead",), ("list", "retry", "purge")),
        (("dead", "list"), ("--json", "--state-dir", "--config")),
        (("dead", "retry"), ("ID", "--all", "--state-dir")),
        (("dead", "purge"), ("--older-than", "--state-dir")),
        (("silence",), ("add", "list", "expire")),
        (("silence", "add"), ("MATCHER", "--for", "--until", "--comment", "--author", "--start", "--drop", "--all")),
        (("silence", "list"), ("--expired", "--json", "--state-dir", "--config")),
        (("silence", "expire"), ("ID", "--state-dir")),
    ],
    ids=[
        "top",
        "serve",
        "render",
        "routes",
        "check",
        "send-test",
        "replay",
        "dead",
        "dead-list",
        "dead-retry",
        "dead-purge",
        "silence",
        "silence-add",
        "silence-list",
        "silence-expire",
    ],
)
async def test_every_command_explains_itself(command: tuple[str, ...], mentions: tuple[str, ...]) -> None:
    run = await run_cli(*command, "--help")
    assert run.code == 0, run
    assert run.stdout.startswith("usage: keptn-notifier"), run
    for text in mentions:
        assert text in run.stdout, f"{text!r} missing from `{' '.join(command)} --help`\n{run}"
    assert run.stderr == ""


# -- render ----------------------------------------------------------------------------------------------


async def test_render_prints_the_slack_message_with_blocks() -> None:
    run = await run_cli("render", SAMPLE, "--format", "slack")
    assert run.code == 0, run
    payload = json.loads(run.stdout)
    assert_valid_slack_payload(payload)
    assert payload["blocks"] and "Evaluation failed" in payload["text"] + json.dumps(payload["blocks"])
    assert run.stderr == ""


async def test_render_prints_the_teams_workflows_envelope() -> None:
    run = await run_cli("render", SAMPLE, "--format", "teams")
    assert run.code == 0, run
    envelope = json.loads(run.stdout)
    assert_valid_teams_envelope(envelope)
    assert "sockshop" in run.stdout


async def test_render_prints_a_messagecard() -> None:
    run = await run_cli("render", SAMPLE, "--format", "messagecard")
    assert run.code == 0, run
    card = json.loads(run.stdout)
    assert card["@type"] == "MessageCard" and "Evaluation failed" in card["title"]


async def test_render_defaults_to_text() -> None:
    run = await run_cli("render", SAMPLE)
    assert run.code == 0, run
    assert run.stdout.startswith("[FAILURE] "), run
    assert "sockshop" in run.stdout and "Score" in run.stdout
    assert run.stdout == (await run_cli("render", SAMPLE, "--format", "text")).stdout


async def test_render_for_a_channel_uses_that_channels_format(tmp_path: Path) -> None:
    config = write_yaml(
        tmp_path / "notifier.yaml",
        {
            "channels": {
                "chat": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T0/B0/x"},
                "bot": {"type": "slack", "token": "xoxb-1-2-3", "channel": "C1"},
                "teams": {"type": "teams", "webhook_url": "https://example.logic.azure.com/wf?sig=abcdefgh123"},
                "legacy": {"type": "teams", "webhook_url": "https://relay.example.com/card", "format": "messagecard"},
                "log": {"type": "console"},
            },
            "routes": [{"name": "all", "channels": ["chat", "bot", "teams", "legacy", "log"]}],
        },
    )
    expected = {"chat": "slack", "bot": "slack", "teams": "teams", "legacy": "messagecard", "log": "text"}
    for channel, fmt in expected.items():
        by_channel = await run_cli("render", SAMPLE, "--config", config, "--channel", channel)
        by_format = await run_cli("render", SAMPLE, "--config", config, "--format", fmt)
        assert by_channel.code == 0, by_channel
        assert by_channel.stdout == by_format.stdout, f"--channel {channel} is not --format {fmt}"


async def test_render_with_a_named_template() -> None:
    chosen = await run_cli("render", SAMPLE)
    default = await run_cli("render", SAMPLE, "--template", "default")
    assert default.code == 0, default
    # The generic template names the event type; the evaluation template speaks of a quality gate.
    assert "sh.keptn.event.evaluation.finished" in default.stdout.splitlines()[0]
    assert default.stdout != chosen.stdout


def test_render_into_a_closed_pipe_is_quiet() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "notifier", "render", str(SAMPLE), "--format", "teams"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # like `| head` that has already gone
        err = process.stderr.read().decode()
        code = process.wait(30)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == 1


# -- routes ----------------------------------------------------------------------------------------------


async def test_routes_shows_matches_misses_with_reasons_and_the_channels(tmp_path: Path) -> None:
    config = write_yaml(
        tmp_path / "notifier.yaml",
        {
            "channels": {"prod": {"type": "console"}, "log": {"type": "console"}},
            "routes": [
                {
                    "name": "prod-failures",
                    "match": {"stages": ["production"], "results": ["fail"]},
                    "channels": ["prod"],
                },
                {"name": "everything", "channels": ["log"], "template": "default"},
            ],
        },
    )
    run = await run_cli("routes", SAMPLE, "--config", config)
    assert run.code == 0, run
    lines = run.stdout.splitlines()
    assert lines[0].startswith("event sh.keptn.event.evaluation.finished (project=sockshop stage=staging")
    assert "  route prod-failures: miss (stage 'staging' is not one of production)" in lines
    assert "  route everything: MATCH -> log (template default)" in lines
    assert "channels: log" in lines
    assert "template: sh.keptn.event.evaluation.finished" in lines


async def test_routes_says_why_the_subscription_refuses_an_event(tmp_path: Path) -> None:
    started = write_event(tmp_path / "started.json", keptn_event("r-1", "sh.keptn.event.deployment.started"))
    run = await run_cli("routes", started)
    assert run.code == 0, run
    assert any(line.startswith("not accepted: ") and "PUBSUB_TOPIC" in line for line in run.stdout.splitlines()), run
    assert "channels: none" in run.stdout.splitlines()
    everything = await run_cli("routes", started, env={"PUBSUB_TOPIC": EVERYTHING})
    assert "route default: MATCH -> console" in everything.stdout, everything


# -- check -----------------------------------------------------------------------------------------------


async def test_check_passes_on_the_shipped_templates() -> None:
    run = await run_cli("check")
    assert run.code == 0, run
    assert run.stdout.startswith("ok: 1 channel(s), 1 route(s)"), run


async def test_check_on_the_reference_example(tmp_path: Path) -> None:
    config = tmp_path / "reference.yaml"
    config.write_text(yaml_example("docs/configuration.md", "## A whole file"))
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1-readme-token",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/readme",
        "TEAMS_WEBHOOK_URL": "https://prod.example.logic.azure.com/workflows/1/invoke?sig=readmesig123",
    }
    # The example's route names `my-template`, a file the user writes: without it, check must say so.
    missing = await run_cli("check", "--config", config, env=env)
    assert missing.code == 1, missing
    assert "problem: route everything: template 'my-template' does not exist" in missing.stdout, missing
    assert "check failed: 1 problem(s)" in missing.stdout
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "my-template.yaml").write_text('title: "{{ type }} for {{ project }}"\n')
    run = await run_cli("check", "--config", config, env={**env, "TEMPLATES_DIR": str(templates)})
    assert run.code == 0, run
    assert "ok: 4 channel(s), 2 route(s)" in run.stdout and str(config) in run.stdout, run


async def test_the_readme_minimal_config_sends_production_failures_to_its_channel(tmp_path: Path) -> None:
    config = tmp_path / "minimal.yaml"
    config.write_text(yaml_example("README.md", "## Configure"))
    env = {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/readme"}
    run = await run_cli("check", "--config", config, env=env)
    assert run.code == 0 and "ok: 1 channel(s), 1 route(s)" in run.stdout, run
    event = json.loads((EXAMPLES / "evaluation-finished-fail.json").read_text())
    for stage, reached in (("production", True), ("staging", False)):
        path = write_event(tmp_path / f"{stage}.json", {**event, "data": {**event["data"], "stage": stage}})
        routes = await run_cli("routes", path, "--config", config, env=env)
        channels = "channels: team-slack" if reached else "channels: none"
        assert routes.code == 0 and channels in routes.stdout.splitlines(), routes


async def test_check_fails_on_a_template_that_raises_when_rendered(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "sh.keptn.event.test.finished.yaml").write_text(
        'title: "Tests took {{ 100 // (data.test.retries | default(0)) }} units"\n'
    )
    run = await run_cli("check", env={"TEMPLATES_DIR": str(templates)})
    assert run.code == 1, run
    problems = [line for line in run.stdout.splitlines() if line.startswith("problem: ")]
    assert problems, run
    assert all("sh.keptn.event.test.finished.yaml" in line and "ZeroDivisionError" in line for line in problems), run
    assert f"check failed: {len(problems)} problem(s)" in run.stdout
    assert "Traceback" not in run.stderr


async def test_check_fails_on_a_route_naming_a_missing_template(tmp_path: Path) -> None:
    config = write_yaml(
        tmp_path / "notifier.yaml",
        {"channels": {"log": {"type": "console"}}, "routes": [{"name": "r", "channels": ["log"], "template": "nope"}]},
    )
    run = await run_cli("check", "--config", config)
    assert run.code == 1, run
    assert "problem: route r: template 'nope' does not exist" in run.stdout, run


# `check` reports a template that does not compile as a template problem, exit 1: tests/app/test_check_startup.py.
@pytest.mark.parametrize("command", ["serve", "render", "routes"])
async def test_a_template_syntax_error_exits_2_naming_the_file(tmp_path: Path, command: str) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "sh.keptn.event.test.finished.yaml").write_text('title: "{{ project "\n')
    args: list[str | Path] = [command]
    if command in ("render", "routes"):
        args.append(SAMPLE)
    if command == "serve":
        args += ["--host", "127.0.0.1", "--port", "0", "--state-dir", tmp_path / "state"]
    run = await run_cli(*args, env={"TEMPLATES_DIR": str(templates)}, timeout=30)
    assert run.code == 2, run
    assert "Traceback" not in run.stderr, run
    assert run.stderr.startswith("keptn-notifier: ")
    assert str(templates / "sh.keptn.event.test.finished.yaml") in run.stderr, run
    assert "line 1" in run.stderr and "title" in run.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "channels:\n  log: {type: console, colour: red}\nroutes: [{name: all, channels: [log]}]\n",
            ("channels.log.colour", "unknown key"),
        ),
        ("channels: [\n", ("invalid YAML", "line 2")),
        (
            "channels:\n  hook: {type: slack, webhook_url: '${NOT_SET_ANYWHERE}'}\nroutes: [{name: all, channels: [hook]}]\n",
            ("NOT_SET_ANYWHERE", "is not set"),
        ),
        ("channels:\n  log: {type: console}\nroutes: [{name: all, channels: [nope]}]\n", ("unknown channel 'nope'",)),
    ],
    ids=["unknown-key", "bad-yaml", "missing-variable", "unknown-channel"],
)
async def test_a_config_error_exits_2_naming_the_file(tmp_path: Path, text: str, expected: tuple[str, ...]) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text(text)
    for command in (["check"], ["routes", SAMPLE], ["serve", "--port", "0", "--state-dir", tmp_path / "state"]):
        run = await run_cli(*command, "--config", config, timeout=30)
        assert run.code == 2, run
        assert run.stderr.startswith("keptn-notifier: ") and "Traceback" not in run.stderr, run
        assert str(config) in run.stderr, run
        for part in expected:
            assert part in run.stderr, run


async def test_a_missing_config_file_and_a_bad_variable_exit_2() -> None:
    missing = await run_cli("check", "--config", "/nonexistent/notifier.yaml")
    assert_usage_error(missing, "/nonexistent/notifier.yaml", "cannot read")
    level = await run_cli("check", env={"LOG_LEVEL": "verbose"})
    assert level.code == 2 and "LOG_LEVEL" in level.stderr and "Traceback" not in level.stderr, level


# -- send-test -------------------------------------------------------------------------------------------


async def test_send_test_posts_to_each_platform_and_shows_the_answer(chat_server: FakeChatServer) -> None:
    env = {
        "SLACK_WEBHOOK_URL": f"{chat_server.url}/slack/T0/B0/sendtest",
        "SLACK_BOT_TOKEN": "xoxb-1-2-sendtest",
        "SLACK_CHANNEL": "C42",
        "SLACK_API_URL": f"{chat_server.url}/api/",
        "TEAMS_WEBHOOK_URL": f"{chat_server.url}/teams/wf?api-version=1&sig=sendtestsig123",
    }
    webhook = await run_cli("send-test", "slack-webhook", env=env)
    assert webhook.code == 0, webhook
    assert webhook.stdout.strip() == "slack-webhook: sent (ok) HTTP 200: ok", webhook
    bot = await run_cli("send-test", "slack-bot", env=env)
    assert bot.code == 0, bot
    assert bot.stdout.startswith("slack-bot: sent (ok) HTTP 200:") and '"ts":' in bot.stdout, bot
    teams = await run_cli("send-test", "teams", env=env)
    assert teams.code == 0, teams
    assert teams.stdout.strip() == "teams: sent (ok) HTTP 202", teams

    slack_body = chat_server.received_on("/slack/T0/B0/sendtest")[0].json
    assert_valid_slack_payload(slack_body)
    assert "keptn-notifier test message" in json.dumps(slack_body)
    assert chat_server.received_on("/api/chat.postMessage")[0].json["channel"] == "C42"
    assert_valid_teams_envelope(chat_server.received_on("/teams/wf")[0].json)


async def test_send_test_to_the_console_prints_the_message() -> None:
    run = await run_cli("send-test", "console")
    assert run.code == 0, run
    assert run.stdout.startswith("[INFO] keptn-notifier test message")
    assert run.stdout.rstrip().endswith("console: sent (ok)")


async def test_send_test_reports_a_revoked_webhook_and_exits_1(chat_server: FakeChatServer) -> None:
    chat_server.on("/slack/T0/B0/revoked", Reply.slack_error(404, "no_service"))
    chat_server.on("/teams/down", Reply.server_error(500, "upstream exploded"))
    env = {
        "SLACK_WEBHOOK_URL": f"{chat_server.url}/slack/T0/B0/revoked",
        "TEAMS_WEBHOOK_URL": f"{chat_server.url}/teams/down?sig=downsig12345",
    }
    webhook = await run_cli("send-test", "slack-webhook", env=env)
    assert webhook.code == 1, webhook
    # Issue 9: send-test says what the service would do, not its internal outcome ("dead", "retry").
    assert webhook.stdout.strip() == (
        "slack-webhook: failed (no_service, permanent: the service would not try again) HTTP 404: no_service"
    ), webhook
    teams = await run_cli("send-test", "teams", env=env)
    assert teams.code == 1, teams
    assert teams.stdout.strip() == (
        "teams: failed (server_error, temporary: the service would try again later) HTTP 500: upstream exploded"
    ), teams
    assert "Traceback" not in webhook.stderr + teams.stderr


# -- replay ----------------------------------------------------------------------------------------------


async def test_replay_of_the_examples_prints_one_message_per_event() -> None:
    files = sorted(
        path for path in EXAMPLES.glob("*.json") if json.loads(path.read_text())["type"].startswith("sh.keptn.")
    )
    assert len(files) >= 10
    run = await run_cli("replay", EXAMPLES, env={"PUBSUB_TOPIC": "sh.keptn.>"})
    assert run.code == 0, run
    shown = printed(run.stdout)
    assert len(shown.notifications) == len(files), run
    contexts = {json.loads(path.read_text())["shkeptncontext"] for path in files}
    # replay shows a console as a Slack bot channel: each run also has its run message
    assert shown.run_messages == len(contexts), run
    for path in files:
        context = json.loads(path.read_text())["shkeptncontext"]
        assert context in run.stdout, f"no message for {path.name}"
    assert f"{len(files)} accepted" in run.stderr and "0 dead, 0 still pending" in run.stderr, run


async def test_replay_in_environment_mode_delivers_every_subscribed_type() -> None:
    # docs/configuration.md: with only environment variables, one route sends every subscribed event to all channels.
    tekton = EXAMPLES / "tekton-pipelinerun-successful.json"
    run = await run_cli("replay", tekton, env={"PUBSUB_TOPIC": EVERYTHING})
    assert run.code == 0, run
    assert "1 accepted, 0 ignored" in run.stderr, run
    assert len(MESSAGE_START.findall(run.stdout)) == 1, run


async def test_replay_with_the_default_subscription_prints_a_message_per_accepted_event() -> None:
    run = await run_cli("replay", EXAMPLES)
    assert run.code == 0, run
    summary = re.search(r"replayed (\d+) event\(s\): (\d+) accepted, (\d+) ignored", run.stderr)
    assert summary, run
    total, accepted, ignored = map(int, summary.groups())
    assert 0 < accepted < total and accepted + ignored == total
    assert len(printed(run.stdout).notifications) == accepted


async def test_replay_of_a_missing_path_exits_2() -> None:
    assert_usage_error(await run_cli("replay", "/nonexistent/events"), "/nonexistent/events", "does not exist")


# -- dead letters ----------------------------------------------------------------------------------------


async def test_dead_letters_from_replay_can_be_listed_purged_and_retried(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    path = "/slack/T0/B0/cli"
    chat_server.on(path, Reply.slack_error(404, "no_service"), Reply.slack_error(404, "no_service"))
    config = hook_config(chat_server, tmp_path)
    state = tmp_path / "state"
    first = write_event(tmp_path / "first.json", keptn_event("dead-1"))
    second = write_event(tmp_path / "second.json", keptn_event("dead-2"))

    replay = await run_cli("replay", first, second, "--config", config, "--state-dir", state)
    assert replay.code == 1, replay
    assert "2 accepted" in replay.stderr and "2 dead, 0 still pending" in replay.stderr, replay

    listing = await run_cli("dead", "list", "--state-dir", state, "--config", config)
    assert listing.code == 0, listing
    rows = listing.stdout.splitlines()
    assert len(rows) == 2 and all("hook" in row and "no_service" in row for row in rows), listing
    assert all("sockshop/production/carts" in row and "sh.keptn.event.evaluation.finished" in row for row in rows)
    letters = await dead_letters(state, config)
    assert [letter["channel"] for letter in letters] == ["hook", "hook"]
    assert all(letter["reason"].startswith("no_service") for letter in letters), letters
    ids = [letter["id"] for letter in letters]

    kept = await run_cli("dead", "purge", "--older-than", "7d", "--state-dir", state)
    assert (kept.code, kept.stdout.strip()) == (0, "purged 0 dead letter(s) older than 7d"), kept
    retried = await run_cli("dead", "retry", str(ids[0]), "--state-dir", state)
    assert (retried.code, retried.stdout.strip()) == (0, "queued 1 notification(s) again"), retried
    purged = await run_cli("dead", "purge", "--older-than", "0s", "--state-dir", state)
    assert (purged.code, purged.stdout.strip()) == (0, "purged 1 dead letter(s) older than 0s"), purged

    # The next run on this state (the fake answers ok again) delivers the retried one; the event is a duplicate.
    again = await run_cli("replay", first, "--config", config, "--state-dir", state)
    assert again.code == 0, again
    assert "1 duplicate(s); 0 dead, 0 still pending" in again.stderr, again
    bodies = [item.body for item in chat_server.received_on(path)]
    assert len(bodies) == 3 and b"ctx-dead-1" in bodies[2], bodies
    empty = await run_cli("dead", "list", "--state-dir", state)
    assert (empty.code, empty.stdout.strip()) == (0, "no dead letters"), empty


async def test_dead_retry_against_a_running_service_gets_it_delivered(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    path = "/slack/T0/B0/cli"
    chat_server.on(path, Reply.slack_error(404, "no_service"))
    config = yaml.safe_load(hook_config(chat_server, tmp_path).read_text())
    service = ServiceProcess(config, tmp_path, env={"LOG_LEVEL": "info"})
    state = tmp_path / "state"
    service.start()
    try:
        assert await post_event(service.url, keptn_event("svc-1")) == 202

        async def parked() -> bool:
            return len(await dead_letters(state)) == 1

        await wait_until(parked, 30, "the notification to be parked as dead")
        listing = await run_cli("dead", "list", "--state-dir", state)
        assert "no_service" in listing.stdout and "hook" in listing.stdout, listing

        retried = await run_cli("dead", "retry", "--all", "--state-dir", state)
        assert (retried.code, retried.stdout.strip()) == (0, "queued 1 notification(s) again"), retried
        await chat_server.wait_for(2, path, timeout=30)
        assert b"ctx-svc-1" in chat_server.received_on(path)[1].body

        async def cleared() -> bool:
            return await dead_letters(state) == []

        await wait_until(cleared, 10, "the dead letter list to empty")
        assert service.terminate() == 0
    finally:
        service.close()
    assert len(chat_server.received_on(path)) == 2, "retry delivered more than once"


async def test_dead_commands_refuse_bad_input(tmp_path: Path) -> None:
    # Issue 9: `dead list` with no state yet says there are none (tests/cli/test_tools.py); acting on none is an error.
    assert_usage_error(
        await run_cli("dead", "retry", "--all", "--state-dir", tmp_path / "none"), "no outbox in", "--state-dir"
    )
    state = tmp_path / "state"
    run = await run_cli("replay", write_event(tmp_path / "e.json", keptn_event("x")), "--state-dir", state)
    assert run.code == 0, run
    assert_usage_error(await run_cli("dead", "retry", "--state-dir", state), "--all")
    assert_usage_error(await run_cli("dead", "purge", "--older-than", "soon", "--state-dir", state), "'soon'")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "notifier.sqlite3").write_text("this is not a database")
    assert_usage_error(await run_cli("dead", "list", "--state-dir", garbage), str(garbage))


# -- bad input -------------------------------------------------------------------------------------------


async def test_bad_event_files_exit_2_with_one_clear_line(tmp_path: Path) -> None:
    invalid = tmp_path / "invalid.json"
    invalid.write_text("{not json")
    no_id = write_event(tmp_path / "no-id.json", {k: v for k, v in keptn_event().items() if k != "id"})
    not_object = tmp_path / "list-of-strings.json"
    not_object.write_text('"just a string"')
    for command in ("render", "routes", "replay"):
        assert_usage_error(await run_cli(command, tmp_path / "missing.json"), "missing.json")
        assert_usage_error(await run_cli(command, invalid), "invalid.json", "not valid JSON")
        assert_usage_error(await run_cli(command, no_id), "no-id.json", "id")
        assert_usage_error(await run_cli(command, not_object), "list-of-strings.json")


async def test_unknown_channel_and_template_exit_2_with_one_clear_line() -> None:
    assert_usage_error(await run_cli("render", SAMPLE, "--channel", "nope"), "unknown channel 'nope'", "console")
    assert_usage_error(await run_cli("send-test", "nope"), "unknown channel 'nope'", "console")
    assert_usage_error(await run_cli("render", SAMPLE, "--template", "nope"), "unknown template 'nope'", "default")


async def test_serve_on_a_port_in_use_exits_2(tmp_path: Path, chat_server: FakeChatServer) -> None:
    port = chat_server.url.rsplit(":", 1)[1]
    run = await run_cli("serve", "--host", "127.0.0.1", "--port", port, "--state-dir", tmp_path / "state", timeout=30)
    # One line: a half-started service must also close its HTTP session and its store before exiting.
    assert_usage_error(run, "cannot start the service", "address already in use")


async def test_serve_on_an_unwritable_state_dir_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    run = await run_cli("serve", "--port", "0", "--state-dir", blocker / "state", timeout=30)
    assert_usage_error(run, "state directory", str(blocker / "state"))


NOBODY = 65534


@pytest.mark.parametrize("unwritable", ["directory", "database"])
async def test_serve_on_a_state_dir_it_cannot_write_names_its_uid_and_exits_2(unwritable: str) -> None:
    """A volume prepared for another user: the one line says which uid and gid would need the access."""
    # Root writes anywhere: as root, the service runs as nobody, as the image's own non-root user would.
    as_other_user: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv (util-linux) to run the service as another user")
        as_other_user = [setpriv, "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"]
    uid, gid = (NOBODY, NOBODY) if as_other_user else (os.geteuid(), os.getegid())
    # Under /tmp, not tmp_path: nobody cannot pass through pytest's private base directory.
    state = Path(tempfile.mkdtemp(prefix="keptn-notifier-state-"))
    try:
        if unwritable == "directory":
            state.chmod(0o555)
        else:
            # The directory is writable, the outbox in it is not (it was made by someone else).
            (state / "notifier.sqlite3").write_bytes(b"")
            (state / "notifier.sqlite3").chmod(0o444)
            state.chmod(0o777)
        process = await asyncio.create_subprocess_exec(
            *as_other_user,
            sys.executable,
            *("-m", "notifier", "serve", "--host", "127.0.0.1", "--port", "0", "--state-dir", str(state)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(),
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        left = sorted(path.name for path in state.iterdir())
    finally:
        state.chmod(0o700)
        shutil.rmtree(state)
    assert process.returncode is not None
    what = f"the state directory {state}" if unwritable == "directory" else str(state / "notifier.sqlite3")
    run = Run(process.returncode, out.decode(), err.decode())
    assert_usage_error(run, f"cannot write {what} (Permission denied)", f"uid {uid}, gid {gid}", "NOTIFIER_STATE_DIR")
    assert left == ([] if unwritable == "directory" else ["notifier.sqlite3"]), "nothing is left behind"


# -- in-process safety ----------------------------------------------------------------------------------


async def test_main_in_process_leaves_no_logging_and_no_loop_policy_behind() -> None:
    root, access = logging.getLogger(), logging.getLogger("aiohttp.access")

    def state() -> tuple[object, ...]:
        return tuple(root.handlers), root.level, access.level, asyncio.get_event_loop_policy()

    before = state()
    for args in (("send-test", "console"), ("replay", SAMPLE), ("render", SAMPLE), ("check", "--config", "/nope")):
        run = await run_cli(*args, env={"PUBSUB_TOPIC": "sh.keptn.>", "LOG_LEVEL": "debug"})
        assert run.code in (0, 2), run
        assert state() == before, f"`{' '.join(map(str, args))}` left logging or the loop policy changed"


# -- the console script ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--version",),
        ("render", str(SAMPLE), "--format", "slack"),
        ("routes", str(SAMPLE)),
        ("check",),
        ("render", "/nonexistent.json"),
        ("send-test", "nope"),
    ],
    ids=["version", "render", "routes", "check", "missing-file", "unknown-channel"],
)
async def test_python_dash_m_behaves_like_the_console_script(args: Sequence[str]) -> None:
    assert CONSOLE_SCRIPT.exists(), f"{CONSOLE_SCRIPT} is missing: install the project (pip install -e .)"
    # Both at once: two interpreters starting side by side take half the time of one after the other.
    module, script = await asyncio.gather(run_cli_process(*args), run_cli_process(*args, script=True))
    assert (script.code, script.stdout, script.stderr) == (module.code, module.stdout, module.stderr)
    assert "Traceback" not in script.stderr
