"""The tools say what happened: replay and render name what `serve` would ignore and why, send-test and the
dead-letter commands say what they did, the shutdown log counts what is left, and the state stays out of git."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml

from notifier.config.settings import DEFAULT_PUBSUB_TOPIC
from notifier.keptn.subjects import SubjectSet
from tests.fakes import FakeChatServer, Reply
from tests.helpers import EXAMPLES, REPO, Cli, Printed, free_port, in_process_cli, keptn_event, printed, running_service

MESSAGE_START = re.compile(r"^\[(SUCCESS|INFO|WARNING|FAILURE)\] ", re.MULTILINE)
SUMMARY = re.compile(r"replayed (\d+) event\(s\): (\d+) accepted, (\d+) ignored, (\d+) duplicate\(s\)")
SAMPLE = EXAMPLES / "evaluation-finished-fail.json"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    yield from in_process_cli(capsys, monkeypatch)


def write_event(path: Path, event: dict[str, object]) -> Path:
    path.write_bytes(orjson.dumps(event))
    return path


def write_config(path: Path, document: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def counts(stderr: str) -> tuple[int, int, int, int]:
    found = SUMMARY.search(stderr)
    assert found, stderr
    total, accepted, ignored, duplicates = map(int, found.groups())
    return total, accepted, ignored, duplicates


# -- replay ----------------------------------------------------------------------------------------------


def test_replay_names_each_ignored_file_and_why(cli: Cli) -> None:
    run = cli("replay", EXAMPLES)
    assert run.code == 0, run
    total, accepted, ignored, _ = counts(run.stderr)
    notes = [line for line in run.stderr.splitlines() if line.startswith("ignored ")]
    subscription = SubjectSet.parse(DEFAULT_PUBSUB_TOPIC)
    types = {path: json.loads(path.read_text())["type"] for path in sorted(EXAMPLES.glob("*.json"))}
    expected = [
        f"ignored {path} ({event_type}): not subscribed (its type is not in PUBSUB_TOPIC)"
        for path, event_type in types.items()
        if not subscription.matches(event_type)
    ]
    assert notes == expected and len(notes) == ignored > 0, run
    assert len(printed(run.stdout).notifications) == accepted == total - ignored
    # The topic, long as it is, is shown once, with the way to replay everything.
    assert run.stderr.count("PUBSUB_TOPIC is sh.keptn.event.*.*.finished,") == 1, run
    assert "to replay every event, set PUBSUB_TOPIC='>'" in run.stderr, run


@pytest.mark.parametrize("variable", ["PROJECT_FILTER", "STAGE_FILTER", "SERVICE_FILTER"])
def test_replay_says_which_filter_dropped_an_event(cli: Cli, tmp_path: Path, variable: str) -> None:
    event = write_event(tmp_path / "gate.json", keptn_event("f-1"))
    kept = write_event(tmp_path / "kept.json", keptn_event("f-2", project="other", stage="other", service="other"))
    cli.env(**{variable: "other"})
    run = cli("replay", event, kept)
    assert run.code == 0, run
    label = variable.removesuffix("_FILTER").lower()
    expected = f"ignored {event} (sh.keptn.event.evaluation.finished): "
    expected += f"{label} {keptn_event()['data'][label]!r} is filtered out by {variable}"
    assert expected in run.stderr.splitlines(), run
    assert counts(run.stderr) == (2, 1, 1, 0) and f"ignored {kept}" not in run.stderr, run
    assert "PUBSUB_TOPIC is" not in run.stderr, "no event was refused by the subscription"


def test_replay_says_when_no_route_matches(cli: Cli, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "notifier.yaml",
        {
            "channels": {"log": {"type": "console"}},
            "routes": [{"name": "prod", "match": {"stages": ["production"]}, "channels": ["log"]}],
        },
    )
    event = write_event(tmp_path / "staging.json", keptn_event("r-1", stage="staging"))
    run = cli("replay", event, "--config", config)
    assert run.code == 0, run
    assert (
        f"ignored {event} (sh.keptn.event.evaluation.finished): "
        "no route matches (route prod: stage 'staging' is not one of production)"
    ) in run.stderr.splitlines(), run


def test_replay_names_duplicates_and_no_dedup_treats_every_file_as_new(cli: Cli, tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    shutil.copy(SAMPLE, first)
    shutil.copy(SAMPLE, second)
    run = cli("replay", tmp_path)
    assert run.code == 0 and counts(run.stderr) == (2, 1, 0, 1), run
    assert (
        f"duplicate {second} (sh.keptn.event.evaluation.finished): the same source and id as {first}; "
        "--no-dedup replays every file as new"
    ) in run.stderr.splitlines(), run
    # one notification, the first of its run: the run message and, in its thread, the notification
    assert printed(run.stdout) == Printed(["FAILURE"], 1), run

    rendered = cli("render", SAMPLE).stdout.strip()
    both = cli("replay", tmp_path, "--no-dedup")
    assert both.code == 0 and counts(both.stderr) == (2, 2, 0, 0), both
    # Only the outbox's identity changes: each message is the one the event makes.
    assert both.stdout.count(rendered) == 2, both


def test_replay_on_a_state_dir_says_what_it_already_holds(cli: Cli, tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert cli("replay", SAMPLE, "--state-dir", state).code == 0
    again = cli("replay", SAMPLE, "--state-dir", state)
    assert counts(again.stderr) == (1, 0, 0, 1), again
    assert f"duplicate {SAMPLE} (sh.keptn.event.evaluation.finished): already in the outbox in {state}" in again.stderr
    # --no-dedup is new on every run, also against what an earlier --no-dedup run stored.
    for _ in range(2):
        fresh = cli("replay", SAMPLE, "--state-dir", state, "--no-dedup")
        assert counts(fresh.stderr) == (1, 1, 0, 0) and len(MESSAGE_START.findall(fresh.stdout)) == 1, fresh


def test_the_readme_replay_tip_shows_every_example(cli: Cli) -> None:
    readme = (REPO / "README.md").read_text().replace("\n", " ")
    tip = re.search(r"Try `(?:PUBSUB_TOPIC='([^']*)' )?keptn-notifier (replay [^`]+)`", readme)
    assert tip, "README.md has no `keptn-notifier replay` tip"
    topic, command = tip.groups()
    if topic is not None:
        cli.env(PUBSUB_TOPIC=topic)
    words = command.split()
    assert words[:2] == ["replay", "notifier/samples"], command
    run = cli("replay", REPO / "notifier" / "samples", *words[2:])
    assert run.code == 0, run
    files = sorted(EXAMPLES.glob("*.json"))
    assert counts(run.stderr) == (len(files), len(files), 0, 0), run
    assert len(printed(run.stdout).notifications) == len(files), run


# -- render ----------------------------------------------------------------------------------------------


def test_render_notes_on_stderr_when_serve_would_ignore_the_event(cli: Cli) -> None:
    started = EXAMPLES / "deployment-started.json"
    run = cli("render", started, "--format", "slack")
    assert run.code == 0, run
    assert json.loads(run.stdout)["blocks"], "stdout must stay exactly the payload"
    [note] = run.stderr.splitlines()
    assert note.startswith(
        "note: serve would ignore this event: not subscribed (its type is not in PUBSUB_TOPIC) "
        "(PUBSUB_TOPIC=sh.keptn.event.*.*.finished,"
    ), run

    cli.env(PROJECT_FILTER="podtato")
    filtered = cli("render", SAMPLE)
    assert filtered.stderr == (
        "note: serve would ignore this event: project 'sockshop' is filtered out by PROJECT_FILTER\n"
    ), filtered
    assert filtered.stdout == cli("render", SAMPLE, "--format", "text").stdout


def test_render_says_nothing_more_for_an_event_serve_takes(cli: Cli) -> None:
    run = cli("render", SAMPLE, "--format", "teams")
    assert run.code == 0 and run.stderr == "", run


def test_render_for_a_channel_the_routes_do_not_reach_says_so(cli: Cli, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "notifier.yaml",
        {
            "channels": {"log": {"type": "console"}, "other": {"type": "console"}},
            "routes": [{"name": "all", "channels": ["log"]}],
        },
    )
    run = cli("render", SAMPLE, "--config", config, "--channel", "other")
    assert run.code == 0 and run.stderr == "note: serve would not send this event to other, only to log\n", run
    assert cli("render", SAMPLE, "--config", config, "--channel", "log").stderr == ""


# -- send-test -------------------------------------------------------------------------------------------


def test_send_test_reports_a_temporary_failure_without_saying_retry(cli: Cli) -> None:
    cli.env(SLACK_WEBHOOK_URL=f"http://127.0.0.1:{free_port()}/slack/T0/B0/closed")
    run = cli("send-test", "slack-webhook")
    assert run.code == 1, run
    line = run.stdout.strip()
    assert line.startswith("slack-webhook: failed (") and "temporary: the service would try again later" in line, run
    assert "retry" not in line.lower(), run


async def test_send_test_reports_a_permanent_failure_as_final(cli: Cli, chat_server: FakeChatServer) -> None:
    chat_server.on("/teams/gone", Reply.server_error(404, "workflow not found"))
    cli.env(TEAMS_WEBHOOK_URL=f"{chat_server.url}/teams/gone?sig=gonesig12345")
    run = await cli.in_thread("send-test", "teams")
    assert run.code == 1, run
    assert run.stdout.startswith("teams: failed (") and "permanent: the service would not try again" in run.stdout
    assert "retry" not in run.stdout.lower() and "gonesig12345" not in run.stdout, run


# -- dead letters ----------------------------------------------------------------------------------------


def test_dead_list_with_no_state_yet_says_there_are_none(cli: Cli, tmp_path: Path) -> None:
    state = tmp_path / "never-used"
    run = cli("dead", "list", "--state-dir", state)
    assert (run.code, run.stdout) == (0, "no dead letters\n"), run
    assert f"no outbox in {state}" in run.stderr, run
    as_json = cli("dead", "list", "--json", "--state-dir", state)
    assert (as_json.code, as_json.stdout) == (0, ""), as_json
    assert not state.exists(), "listing must not create a state directory"


async def test_dead_retry_names_the_ids_that_are_not_dead_letters(
    cli: Cli, tmp_path: Path, chat_server: FakeChatServer
) -> None:
    chat_server.on("/slack/T0/B0/gone", Reply.slack_error(404, "no_service"))
    cli.env(SLACK_WEBHOOK_URL=f"{chat_server.url}/slack/T0/B0/gone")
    state = tmp_path / "state"
    replay = await cli.in_thread("replay", SAMPLE, "--state-dir", state)
    assert replay.code == 1 and "1 dead" in replay.stderr, replay
    listing = await cli.in_thread("dead", "list", "--json", "--state-dir", state)
    [dead_id] = [json.loads(line)["id"] for line in listing.stdout.splitlines()]

    mixed = await cli.in_thread("dead", "retry", str(dead_id), "99", "--state-dir", state)
    assert mixed.code == 1, mixed
    assert mixed.stdout == "queued 1 notification(s) again\n", mixed
    assert mixed.stderr == "not a dead letter: 99 (see 'keptn-notifier dead list')\n", mixed
    none = await cli.in_thread("dead", "retry", "99", "100", str(dead_id), "--state-dir", state)
    assert none.code == 1 and none.stdout == "queued 0 notification(s) again\n", none
    assert none.stderr == f"not dead letters: 99, 100, {dead_id} (see 'keptn-notifier dead list')\n", none


# -- the shutdown log and the state directory ------------------------------------------------------------


async def test_the_shutdown_log_mentions_undelivered_notifications_only_when_there_are_some(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "notifier.service")
    closed = f"http://127.0.0.1:{free_port()}/hook"
    config = {
        "channels": {"log": {"type": "console"}, "down": {"type": "slack", "webhook_url": closed}},
        "routes": [{"name": "all", "channels": ["log"]}],
    }
    (tmp_path / "quiet").mkdir()
    (tmp_path / "down").mkdir()
    async with running_service(tmp_path / "quiet", config, shutdown_grace="0s"):
        pass
    stopped = [message for message in caplog.messages if message.startswith("stopped")]
    assert stopped == ["stopped"], caplog.messages

    caplog.clear()
    down = {**config, "routes": [{"name": "all", "channels": ["down"]}]}
    async with running_service(tmp_path / "down", down, shutdown_grace="0s") as svc:
        status, _ = await svc.post_json(keptn_event("left-1"))
        assert status == 202
    stopped = [message for message in caplog.messages if message.startswith("stopped")]
    assert stopped == [
        f"stopped; 1 undelivered notification(s) stay in {tmp_path / 'down' / 'state'} for the next start"
    ]


def test_the_default_state_directory_is_ignored_by_git(cli: Cli) -> None:
    from notifier.config.settings import DEFAULT_STATE_DIR

    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a checkout")
    inside = Path(DEFAULT_STATE_DIR) / "notifier.sqlite3"
    checked = subprocess.run([git, "check-ignore", "-q", str(inside)], cwd=REPO, check=False)
    assert checked.returncode == 0, f"{inside} is not ignored by .gitignore"
