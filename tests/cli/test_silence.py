"""`keptn-notifier silence add|list|expire` on a service's outbox, and `routes` and `preview` naming the silence
that would mute an event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.clock import SystemClock
from notifier.store import Retention
from notifier.store.sqlite import sqlite_storage
from tests.helpers import SAMPLE, Cli, assert_usage_error, in_process_cli, keptn_event, write_event, write_yaml

CONFIG = {
    "channels": {"prod": {"type": "console"}, "log": {"type": "console"}},
    "routes": [
        {"name": "prod", "match": {"stages": ["production"]}, "channels": ["prod"]},
        {"name": "everything", "channels": ["log"]},
    ],
}


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    yield from in_process_cli(capsys, monkeypatch)


@pytest.fixture
async def config(tmp_path: Path) -> Path:
    """A config whose state directory holds an outbox, as a service that ran there leaves it."""
    state = tmp_path / "state"
    storage = sqlite_storage(state, SystemClock(), Retention(3600, 1000), 86400.0)
    await storage.store.open()
    await storage.store.close()
    return write_yaml(tmp_path / "notifier.yaml", {**CONFIG, "settings": {"state_dir": str(state)}})


async def test_add_prints_the_id_and_what_it_can_touch_then_list_and_expire_it(cli: Cli, config: Path) -> None:
    added = await cli.in_thread(
        "silence",
        "add",
        "stage=production",
        "service=carts",
        "--for",
        "2h",
        "--comment",
        "deploy",
        "--author",
        "bob",
        "--config",
        config,
    )
    assert added.code == 0 and added.stderr == "", added
    silence, when, *touches = added.stdout.splitlines()
    assert when.startswith("mutes from now until ") and when.endswith(" (2h), a summary of what it muted when it ends")
    assert touches == ["can touch:", "  route prod -> prod", "  route everything -> log"]
    listed = await cli.in_thread("silence", "list", "--config", config)
    first, second = listed.stdout.splitlines()
    assert first.startswith(f"{silence}  active ") and first.endswith("  muted 0  by bob: deploy")
    assert second == "    stage=production service=carts"
    (document,) = [
        json.loads(line)
        for line in (await cli.in_thread("silence", "list", "--json", "--config", config)).stdout.splitlines()
    ]
    assert document["id"] == silence and document["matchers"] == ["stage=production", "service=carts"]
    assert set(document) == {
        "id",
        "matchers",
        "startsAt",
        "endsAt",
        "createdBy",
        "comment",
        "drop",
        "status",
        "muted",
        "mutedByChannel",
    }
    expired = await cli.in_thread("silence", "expire", silence, "--config", config)
    assert (expired.code, expired.stdout) == (0, f"expired {silence}\n")
    again = await cli.in_thread("silence", "expire", silence, "--config", config)
    assert again.code == 0 and again.stdout.startswith(f"{silence} had ended already, at ")
    assert (await cli.in_thread("silence", "list", "--config", config)).stdout.startswith("no silences")
    ended = (await cli.in_thread("silence", "list", "--expired", "--config", config)).stdout
    assert ended.startswith(f"{silence}  expired ")


async def test_a_silence_that_starts_later_is_pending_and_one_of_nothing_the_routes_send_says_so(
    cli: Cli, config: Path
) -> None:
    later = await cli.in_thread(
        "silence",
        "add",
        "channel=nowhere",
        "--start",
        "1h",
        "--until",
        "3h",
        "--comment",
        "c",
        "--drop",
        "--config",
        config,
    )
    assert later.code == 0, later
    silence, when, *touches = later.stdout.splitlines()
    assert when.startswith("mutes from ") and when.endswith(" (2h), no summary (--drop)")
    assert touches == [
        "can touch nothing:",
        "  it can match nothing the routes send (route prod: no channel of it matches (prod); route everything: no "
        "channel of it matches (log))",
    ]
    assert f"{silence}  pending " in (await cli.in_thread("silence", "list", "--config", config)).stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--for", "1h", "--comment", "c"), "no matcher: it would mute every notification"),
        (("stage=x", "--for", "8d", "--comment", "c"), "longer than silence_max_duration (7d"),
        (("stgae=x", "--for", "1h", "--comment", "c"), "unknown field 'stgae' (did you mean 'stage'?)"),
        (("stage=x", "--until", "yesterday", "--comment", "c"), "'yesterday' is neither a time nor a duration"),
        (
            ("stage=x", "--until", "2020-01-01T00:00:00Z", "--comment", "c"),
            "it ends in the past (2020-01-01T00:00:00Z)",
        ),
        (("stage=x", "--for", "1h", "--comment", " "), "no comment"),
    ],
    ids=["everything", "too-long", "field", "time", "past", "comment"],
)
async def test_a_silence_that_cannot_be_added_is_a_usage_error(
    cli: Cli, config: Path, args: tuple[str, ...], said: str
) -> None:
    assert_usage_error(await cli.in_thread("silence", "add", *args, "--config", config), said)
    assert (await cli.in_thread("silence", "list", "--json", "--config", config)).stdout == ""


async def test_everything_may_be_muted_with_all(cli: Cli, config: Path) -> None:
    added = await cli.in_thread("silence", "add", "--all", "--for", "10m", "--comment", "c", "--config", config)
    assert added.code == 0 and added.stdout.splitlines()[2:] == [
        "can touch:",
        "  route prod -> prod",
        "  route everything -> log",
    ]


async def test_without_the_services_outbox_add_and_expire_fail_and_list_says_none(cli: Cli, tmp_path: Path) -> None:
    state = tmp_path / "nothing-ran-here"
    assert_usage_error(
        await cli.in_thread("silence", "add", "stage=x", "--for", "1h", "--comment", "c", "--state-dir", state),
        f"no outbox in {state}",
        "a silence is kept in the outbox the service uses",
    )
    assert_usage_error(await cli.in_thread("silence", "expire", "x", "--state-dir", state), "no outbox in")
    listed = await cli.in_thread("silence", "list", "--state-dir", state)
    assert listed.code == 0 and listed.stdout == "no silences\n" and "no outbox in" in listed.stderr
    assert not state.exists()


async def test_routes_and_preview_name_the_silence_that_would_mute_an_event(
    cli: Cli, config: Path, tmp_path: Path
) -> None:
    production = write_event(tmp_path / "production.json", keptn_event("p-1"))
    plain = await cli.in_thread("routes", production, "--config", config)
    assert "muted" not in plain.stdout and plain.stderr == ""
    added = await cli.in_thread(
        "silence",
        "add",
        "stage=production",
        "channel=prod",
        "--for",
        "1h",
        "--comment",
        "maintenance",
        "--author",
        "alice",
        "--config",
        config,
    )
    silence = added.stdout.splitlines()[0]
    routed = await cli.in_thread("routes", production, "--config", config)
    lines = routed.stdout.splitlines()
    at = lines.index("  route prod: MATCH -> prod")
    assert lines[at + 1].startswith(f"    muted in prod by silence {silence} until ")
    assert lines[at + 1].endswith(": maintenance (alice)")
    assert "channels: prod, log" in lines  # reached, and muted there
    page = tmp_path / "preview.html"
    assert (await cli.in_thread("preview", production, "--out", page, "--config", config)).code == 0
    html = page.read_text()
    assert f"muted by silence {silence} until" in html and "Silences: 1 active in the service's store" in html


async def test_routes_says_once_on_stderr_when_there_is_no_store_to_read(cli: Cli, tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "notifier.yaml", {**CONFIG, "settings": {"state_dir": str(tmp_path / "none")}})
    routed = await cli.in_thread("routes", SAMPLE, "--config", config)
    assert routed.code == 0 and "muted" not in routed.stdout
    assert routed.stderr.count("silences: none: no outbox in") == 1, routed
