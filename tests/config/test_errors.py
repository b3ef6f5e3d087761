"""Config errors as an operator reads them: the file and its line, the key meant by a typo, no pydantic words."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.config.load import load_config
from notifier.config.source import ConfigError
from notifier.suggest import closest
from tests.helpers import Cli, in_process_cli

# Words of the validation library that mean nothing to someone writing YAML.
LIBRARY_WORDING = re.compile(
    r"Input should|instance of|Field required|Extra inputs|List should|Value error|valid dictionary|RateLimit|"
    r"Match\b|RouteConfig|FileConfig|SlackConfig|TeamsConfig|ConsoleConfig|pydantic",
)
ROUTE = "routes: [{name: all, channels: [log]}]\n"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    yield from in_process_cli(capsys, monkeypatch)


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    path = tmp_path / "notifier.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("chanels:\n  log: {type: console}\n" + ROUTE, 1, "chanels: unknown key 'chanels'; did you mean 'channels'?"),
        (
            "channels:\n  log: {type: console}\nroutes:\n  - name: fails\n    match:\n      result: [fail]\n"
            "    channels: [log]\n",
            6,
            "routes[0].match.result: unknown key 'result'; did you mean 'results'?",
        ),
        (
            "channels:\n  log:\n    type: console\n    rate_limit: 5\n" + ROUTE,
            4,
            "channels.log.rate_limit: must be `off` or a mapping like {per_second: 1, burst: 3}",
        ),
        (
            "channels:\n  log:\n    type: console\n    rate_limit: {per_second: fast}\n" + ROUTE,
            4,
            "channels.log.rate_limit.per_second: must be a number (sustained messages a second)",
        ),
        (
            "channels:\n  log: {type: console}\n  hook:\n    type: teams\n    timout: 5\n" + ROUTE,
            5,
            "channels.hook.timout: unknown key 'timout'; did you mean 'timeout'?",
        ),
        (
            "channels:\n  log: {type: console}\n  hook: {type: teams}\n" + ROUTE,
            3,
            "channels.hook.webhook_url: missing: add webhook_url",
        ),
        ("channels:\n  log: {type: console, stream: stdot}\n" + ROUTE, 2, "must be 'stdout' or 'stderr'"),
        ("channels:\n  log: {type: console}\nroutes:\n  - {name: r, channels: []}\n", 4, "must not be empty"),
        (
            "channels:\n  log: {type: console}\nroutes:\n  - name: r\n    channels: [log]\n    match: [production]\n",
            6,
            "routes[0].match: must be a mapping like {types: [",
        ),
        (
            "channels:\n  log: {type: console}\n" + ROUTE + "settings:\n  port: 80\n  dedup_windw: 1h\n",
            6,
            "settings.dedup_windw: unknown key 'dedup_windw'; did you mean 'dedup_window'?",
        ),
        (
            "channels:\n  prod-slack: {type: console}\nroutes:\n  - name: r\n    channels: [prod-slak]\n",
            5,
            "unknown channel 'prod-slak'; did you mean 'prod-slack'?",
        ),
        (
            "channels:\n  log: {type: console}\n  hook:\n    type: slack\n    webhook_url: '${HOOK_URL}'\n" + ROUTE,
            5,
            "channels.hook.webhook_url: environment variable HOOK_URL is not set",
        ),
    ],
    ids=[
        "top-level-typo",
        "match-key-typo",
        "rate-limit-shape",
        "rate-limit-number",
        "channel-key-typo",
        "missing-key",
        "literal",
        "empty-list",
        "match-shape",
        "settings-typo",
        "channel-name-typo",
        "missing-variable",
    ],
)
def test_a_config_error_names_the_line_and_says_it_in_the_operators_words(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    message = error_of(tmp_path, text)
    assert f"{tmp_path / 'notifier.yaml'}, line {line}: " in message, message
    assert expected in message, message
    assert not LIBRARY_WORDING.search(message), message


def test_an_unknown_key_with_no_near_name_lists_the_keys_there(tmp_path: Path) -> None:
    message = error_of(tmp_path, "channels:\n  log: {type: console, colour: red}\n" + ROUTE)
    assert "channels.log.colour: unknown key 'colour': remove it or check its spelling" in message, message
    assert "known keys: " in message and "stream" in message and "rate_limit" in message, message


def test_a_plain_http_webhook_says_how_to_allow_it_where_it_was_configured(tmp_path: Path) -> None:
    in_file = error_of(
        tmp_path, "channels:\n  hook: {type: slack, webhook_url: 'http://relay.internal/hook'}\n" + ROUTE
    )
    assert "must use https" in in_file and "set allow_insecure: true on the channel" in in_file, in_file
    with pytest.raises(ConfigError) as caught:
        load_config(env={"SLACK_WEBHOOK_URL": "http://relay.internal/hook"})
    in_env = str(caught.value)
    assert "environment variable(s) SLACK_WEBHOOK_URL: must use https" in in_env, in_env
    # No variable allows it: the message must not send the operator looking for one.
    assert "YAML config file (--config / NOTIFIER_CONFIG) with allow_insecure: true" in in_env, in_env


def test_check_prints_the_worded_error_and_exits_2(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "notifier.yaml"
    config.write_text("channels:\n  log: {type: console}\nroutes:\n  - name: r\n    chanels: [log]\n")
    run = cli("check", "--config", config)
    assert run.code == 2, run
    assert run.stdout == "", run
    assert f"{config}, line 5: routes[0].chanels: unknown key 'chanels'; did you mean 'channels'?" in run.stderr, run
    assert "Traceback" not in run.stderr and not LIBRARY_WORDING.search(run.stderr), run


@pytest.mark.parametrize(
    ("typed", "meant"), [("chanels", "channels"), ("result", "results"), ("Routes", "routes"), ("zzz", None)]
)
def test_closest_finds_the_meant_name_or_none(typed: str, meant: str | None) -> None:
    assert closest(typed, ["channels", "routes", "settings", "results", "statuses"]) == meant
