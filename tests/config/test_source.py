"""The settings read alone (the HEALTHCHECK's way) are the settings `load_config` finds, and never need the rest."""

import subprocess
import sys
from pathlib import Path

import pytest

from notifier.config.load import load_config
from notifier.config.source import ConfigError, load_settings

ROUTES = "channels: {log: {type: console}}\nroutes: [{name: all, channels: [log]}]\n"


@pytest.mark.parametrize(
    ("settings", "env"),
    [
        ("", {}),
        ("settings: {port: 9000, admin_port: 9100, dedup_window: 2h}\n", {}),
        # The environment wins over the file, as in load_config.
        ("settings: {port: 9000, admin_port: 9100}\n", {"NOTIFIER_ADMIN_PORT": "9200", "PORT": "9300"}),
        # An empty variable is no value: the file's stands.
        ("settings: {admin_port: 9100}\n", {"NOTIFIER_ADMIN_PORT": ""}),
        ("settings: {admin_port: '${ADMIN:-9400}', host: '${HOST}'}\n", {"HOST": "127.0.0.1"}),
    ],
)
def test_the_settings_alone_are_the_settings_load_config_finds(
    tmp_path: Path, settings: str, env: dict[str, str]
) -> None:
    path = tmp_path / "notifier.yaml"
    path.write_text(ROUTES + settings)
    env = {**env, "NOTIFIER_CONFIG": str(path)}

    alone = load_settings(env)

    assert alone == load_config(env=env).settings
    assert alone.admin_address == load_config(env=env).settings.admin_address


def test_without_a_file_the_settings_come_from_the_environment() -> None:
    env = {"NOTIFIER_ADMIN_PORT": "9500", "NOTIFIER_HOST": "127.0.0.1"}
    assert load_settings(env) == load_config(env=env).settings
    assert load_settings(env).admin_address == ("0.0.0.0", 9500)


def test_a_broken_route_or_channel_does_not_stop_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "notifier.yaml"
    path.write_text(
        "channels: {log: {type: consol, url: '${UNSET_ELSEWHERE}'}}\nroutes: [{name: all, channels: [slak]}]\n"
        "settings: {admin_port: 9100}\n"
    )
    env = {"NOTIFIER_CONFIG": str(path)}
    with pytest.raises(ConfigError):
        load_config(env=env)

    assert load_settings(env).admin_address == ("0.0.0.0", 9100)


@pytest.mark.parametrize(
    ("text", "env", "says"),
    [
        ("settings: {admin_port: ninety}\n", {}, "line 1: settings.admin_port"),
        ("settings: [1]\n", {}, "settings: must be a mapping"),
        ("settings: {admin_port: '${NOPE}'}\n", {}, "environment variable NOPE is not set"),
        ("settings: {admin_port: 9100\n", {}, "invalid YAML"),
        ("settings: {}\n", {"PORT": "eighty"}, "environment variable PORT"),
    ],
)
def test_bad_settings_are_a_config_error_that_names_the_place(
    tmp_path: Path, text: str, env: dict[str, str], says: str
) -> None:
    path = tmp_path / "notifier.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings({**env, "NOTIFIER_CONFIG": str(path)})
    assert says in str(caught.value)
    assert str(path) in str(caught.value) or "environment variable" in str(caught.value)


def test_reading_the_settings_alone_loads_neither_the_channels_nor_the_http_client() -> None:
    # What makes the probe cheap (about 0.1 s of CPU against 0.45 s with the whole config).
    code = (
        "import sys; import notifier.app.healthcheck; "
        "print(sorted(m for m in sys.modules if m.startswith(('notifier.channels', 'aiohttp', 'slack_sdk'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_environment_wins_over_the_file_and_an_empty_variable_does_not(tmp_path: Path) -> None:
    path = tmp_path / "notifier.yaml"
    path.write_text(ROUTES + "settings: {port: 9000, admin_port: 9100}\n")
    env = {"NOTIFIER_CONFIG": str(path), "PORT": "9300", "NOTIFIER_ADMIN_PORT": ""}
    settings = load_settings(env)
    assert (settings.port, settings.admin_port) == (9300, 9100)
