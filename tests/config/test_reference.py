"""docs/configuration.md is the one reference: each table there names exactly the keys its model declares.

The lists come from the models (pydantic fields, the `Env` marks of Settings, the channel registry), so a key
added to the code without a row here, or a row left behind by a key that went, fails a test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from notifier.channels import CHANNEL_TYPES, CHANNEL_VARIABLES
from notifier.channels.base import ChannelConfig, RateLimit
from notifier.config.load import KNOWN_VARIABLES
from notifier.config.routes import FileConfig, RouteConfig
from notifier.config.settings import Env, Settings
from notifier.config.source import CONFIG_VARIABLE
from notifier.keptn.match import Match
from notifier.noise.rules import DigestRule, QuietHours
from notifier.render.mentions import MentionRule, TeamsMention

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
_HEADING = re.compile(r"^#{1,6} ")
_NAME = re.compile(r"^`([^`]+)`$")
NO_VARIABLE = ""


def section(text: str, heading: str) -> str:
    """The text under `heading` up to the next heading of any level: the part that is about it alone."""
    lines = text.splitlines()
    assert heading in lines, f"docs/configuration.md has no heading {heading!r}"
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if _HEADING.match(lines[i])), len(lines))
    return "\n".join(lines[start:end])


def table(text: str) -> dict[str, list[str]]:
    """The rows of the (first) table in `text`, by the name in their first cell (written as `name`)."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        name = _NAME.match(cells[0]) if cells else None
        if name:
            assert name.group(1) not in rows, f"{name.group(1)} has two rows"
            rows[name.group(1)] = cells[1:]
    return rows


def yaml_keys(model: type[BaseModel]) -> set[str]:
    """The keys a user writes for `model`: its fields, by their alias when they have one."""
    return {info.alias or name for name, info in model.model_fields.items()}


def documented(keys: set[str], heading: str) -> dict[str, set[str]]:
    """What the table under `heading` lacks of `keys`, and the rows it has that are not among them."""
    rows = set(table(section(REFERENCE.read_text(encoding="utf-8"), heading)))
    return {"missing": keys - rows, "stale": rows - keys}


def variables(model: type[BaseModel]) -> dict[str, str]:
    """Each setting's environment variable, or NO_VARIABLE, from the model's `Env` marks."""
    return {
        name: next((mark.variable for mark in info.metadata if isinstance(mark, Env)), NO_VARIABLE)
        for name, info in model.model_fields.items()
    }


def settings_rows() -> dict[str, str]:
    """The settings table as key -> the variable its second cell names (NO_VARIABLE when empty)."""
    rows = table(section(REFERENCE.read_text(encoding="utf-8"), "## Settings"))
    named = {key: _NAME.match(cells[0]) for key, cells in rows.items()}
    return {key: match.group(1) if match else NO_VARIABLE for key, match in named.items()}


# The discriminator every channel type declares for itself; the table of what all channel types share names it.
TYPE = "type"
# Each table of the file's keys: its heading, and the keys of the model (or models) it documents.
TABLES: list[tuple[str, set[str]]] = [
    ("## A whole file", yaml_keys(FileConfig)),
    ("### Every channel type", yaml_keys(ChannelConfig) | {TYPE}),
    ("#### `rate_limit`", yaml_keys(RateLimit)),
    ("## Routes", yaml_keys(RouteConfig)),
    ("### `match`", yaml_keys(Match)),
    ("### `mentions`", yaml_keys(MentionRule)),
    ("#### `teams` entries", yaml_keys(TeamsMention)),
    ("#### `digest`", yaml_keys(DigestRule)),
    ("#### `quiet_hours`", yaml_keys(QuietHours)),
    *(
        (f"### `type: {name}`", yaml_keys(kind.config) - yaml_keys(ChannelConfig) - {TYPE})
        for name, kind in CHANNEL_TYPES.items()
    ),
]


@pytest.mark.parametrize(("heading", "keys"), TABLES, ids=[heading for heading, _ in TABLES])
def test_every_yaml_key_has_its_row(heading: str, keys: set[str]) -> None:
    assert documented(keys, heading) == {"missing": set(), "stale": set()}


def test_the_type_row_names_every_channel_type() -> None:
    rows = table(section(REFERENCE.read_text(encoding="utf-8"), "### Every channel type"))
    assert all(TYPE in yaml_keys(kind.config) for kind in CHANNEL_TYPES.values())
    assert set(re.findall(r"`(\w+)`", rows[TYPE][0])) == set(CHANNEL_TYPES), rows[TYPE]


def test_every_setting_has_its_row_with_its_variable() -> None:
    assert settings_rows() == variables(Settings)


def test_every_variable_the_service_reads_is_in_the_reference() -> None:
    others = table(section(REFERENCE.read_text(encoding="utf-8"), "### Variables that are not settings"))
    assert set(others) == {CONFIG_VARIABLE, *CHANNEL_VARIABLES}
    assert set(others) | (set(settings_rows().values()) - {NO_VARIABLE}) == KNOWN_VARIABLES


def test_a_key_the_reference_does_not_name_fails_the_check() -> None:
    """The checks above would see a key added to the code: one planted in a model and in the settings."""

    class PlantedMatch(Match):
        planted_key: list[str] = []

    class PlantedSettings(Settings):
        planted_setting: str = ""

    assert documented(yaml_keys(PlantedMatch), "### `match`") == {"missing": {"planted_key"}, "stale": set()}
    assert set(variables(PlantedSettings).items()) - set(settings_rows().items()) == {("planted_setting", NO_VARIABLE)}
