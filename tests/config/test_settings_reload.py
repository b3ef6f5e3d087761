"""Which changed settings a live reload applies and which need a restart: read from the `RELOADS` marks of
Settings, so a setting nobody marked is a restart's."""

from __future__ import annotations

import pytest

from notifier.config.settings import ENV_SETTINGS, RELOADED_SETTINGS, Settings, reloaded, restart_needed
from notifier.redact import MASK, Redactor

# What the running service follows after a reload (app/service.py `apply`), and nothing else.
LIVE = {
    "bridge_url",
    "templates_dir",
    "log_level",
    "max_depth",
    "max_keys",
    "max_string_chars",
    "max_labels",
    "retry_max_age",
    "retry_initial_backoff",
    "retry_max_backoff",
    "shutdown_grace",
}


def test_the_marks_name_exactly_what_a_reload_applies() -> None:
    assert RELOADED_SETTINGS == LIVE


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"bridge_url": "https://keptn.example.com/bridge", "retry_max_age": 60}, []),
        ({"port": 9000, "log_level": "debug"}, ["port (PORT)"]),
        ({"store": "nats", "nats_prefix": "other"}, ["store (NOTIFIER_STORE)", "nats_prefix (NOTIFIER_NATS_PREFIX)"]),
        ({"max_batch_events": 5}, ["max_batch_events"]),
        ({"admin_token": "a-new-token-0123"}, ["admin_token (NOTIFIER_ADMIN_TOKEN)"]),
        # The default URL given: the same value, but events now come from NATS.
        ({"nats_url": "nats://keptn-nats"}, ["nats_url (NATS_URL)"]),
    ],
)
def test_a_change_a_reload_cannot_apply_is_named_with_its_variable(
    changes: dict[str, object], named: list[str]
) -> None:
    assert restart_needed(Settings(), Settings(**changes)) == named


def test_in_force_after_a_reload_are_the_new_live_settings_and_the_running_others() -> None:
    running = Settings(port=8080)
    wanted = Settings(port=9000, bridge_url="https://keptn.example.com/bridge", nats_url="nats://elsewhere:4222")
    in_force = reloaded(running, wanted)
    assert (in_force.port, in_force.bridge_url, in_force.nats_url) == (
        8080,
        "https://keptn.example.com/bridge",
        running.nats_url,
    )
    assert not in_force.nats_intake, "the running service reads no NATS; the reload cannot make it"
    assert restart_needed(in_force, wanted) == ["port (PORT)", "nats_url (NATS_URL)"]
    assert restart_needed(in_force, Settings(port=8080, bridge_url=wanted.bridge_url)) == []


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_a_setting_needs_a_restart_unless_it_is_marked(name: str) -> None:
    changed = Settings().model_copy(update={name: object()})
    variable = next((variable for variable, setting in ENV_SETTINGS.items() if setting == name), None)
    expected = [] if name in RELOADED_SETTINGS else [f"{name} ({variable})" if variable else name]
    assert restart_needed(Settings(), changed) == expected


def test_a_redactor_learns_a_reloaded_configs_secrets_and_keeps_the_old_ones() -> None:
    redact = Redactor(["https://hooks.example.com/old-secret-path"])
    redact.learn(["new-secret-token-0123"])
    assert redact("old https://hooks.example.com/old-secret-path new new-secret-token-0123") == f"old {MASK} new {MASK}"
