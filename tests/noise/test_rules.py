"""The noise-control keys of a route, as a user writes them in YAML: parsed once, bad values explained."""

from __future__ import annotations

from datetime import time

import pytest
import yaml
from pydantic import Field, ValidationError

from notifier.keptn.fields import FIELDS
from notifier.noise.rules import DEFAULT_REPEAT_KEY, NoiseRules


class Route(NoiseRules):
    """What RouteConfig will be: its own fields on top of the noise keys, in one flat mapping."""

    name: str = Field(min_length=1)
    channels: list[str] = Field(min_length=1)


def route(text: str) -> Route:
    return Route.model_validate({"name": "prod", "channels": ["slack"], **yaml.safe_load(text)})


def night(zone: str, start: str = '"22:00"') -> str:
    return f'quiet_hours: {{from: {start}, to: "07:00", timezone: {zone}}}'


def errors(text: str) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        route(text)
    return {".".join(str(part) for part in error["loc"]): error["msg"] for error in caught.value.errors()}


def test_every_setting_is_off_unless_configured() -> None:
    plain = route("{}")
    assert (plain.repeat_interval, plain.digest, plain.quiet_hours) == (None, None, None)
    assert plain.repeat_key == DEFAULT_REPEAT_KEY == ("type", "project", "stage", "service", "result")
    assert not plain.active


def test_the_issue_example_parses_into_typed_values() -> None:
    parsed = route(
        """
        repeat_interval: 10m
        repeat_key: [type, project, labels.team, labels.Problem URL]
        digest: {after: 5, window: 5m}
        quiet_hours: {from: "22:00", to: "07:00", timezone: "Europe/Vienna"}
        """
    )
    assert parsed.active
    assert parsed.repeat_interval == 600.0
    assert parsed.repeat_key == ("type", "project", "labels.team", "labels.Problem URL")
    assert parsed.digest is not None and (parsed.digest.after, parsed.digest.window) == (5, 300.0)
    quiet = parsed.quiet_hours
    assert quiet is not None
    assert (quiet.start, quiet.end, quiet.timezone) == (time(22, 0), time(7, 0), "Europe/Vienna")
    assert quiet.crosses_midnight
    assert quiet.zone.key == "Europe/Vienna"
    assert quiet.describe() == "22:00\N{EN DASH}07:00 Europe/Vienna"


def test_repeat_key_accepts_a_comma_list_like_the_other_lists() -> None:
    assert route("{repeat_interval: 1h, repeat_key: 'type, stage'}").repeat_key == ("type", "stage")


def test_every_documented_repeat_key_field_is_accepted() -> None:
    assert route(f"{{repeat_interval: 5m, repeat_key: [{', '.join(FIELDS)}]}}").repeat_key == tuple(FIELDS)
    # A label in either spelling: `labels.<name>` as repeat keys always took it, `label:<name>` as matchers do.
    assert route("{repeat_interval: 5m, repeat_key: [labels.team, 'label:owner']}").repeat_key == (
        "labels.team",
        "label:owner",
    )


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("repeat_interval: soon", "repeat_interval", "'soon' is not a duration: write e.g. 30s, 5m"),
        ("repeat_interval: 0", "repeat_interval", "must be longer than zero (got 0); leave the key out"),
        ("repeat_interval: 5m\nrepeat_key: [foo]", "repeat_key", "unknown field 'foo': use type, source,"),
        # One table of fields for routes, filters and repeat keys: its error names both label spellings.
        ("repeat_interval: 5m\nrepeat_key: [foo]", "repeat_key", "or label:<name> (e.g. label:team; labels.<name>"),
        ("repeat_interval: 5m\nrepeat_key: [projcet]", "repeat_key", "'projcet' (did you mean 'project'?): use"),
        ("repeat_interval: 5m\nrepeat_key: [lable.team]", "repeat_key", "(did you mean 'label:team'?)"),
        ("repeat_interval: 5m\nrepeat_key: [labels.]", "repeat_key", "unknown field 'labels.'"),
        ("repeat_interval: 5m\nrepeat_key: [type, id]", "repeat_key", "'id' differs in every event"),
        ("repeat_interval: 5m\nrepeat_key: [time]", "repeat_key", "nothing would ever repeat"),
        ("repeat_interval: 5m\nrepeat_key: [triggeredid]", "repeat_key", "nothing would ever repeat"),
        ("repeat_interval: 5m\nrepeat_key: [gitcommitid]", "repeat_key", "unknown field 'gitcommitid'"),
        ("repeat_interval: 5m\nrepeat_key: [type, type]", "repeat_key", "type listed twice"),
        (
            "repeat_interval: 5m\nrepeat_key: [labels.team, 'label:team']",
            "repeat_key",
            "label:team, labels.team listed",
        ),
        ("repeat_interval: 5m\nrepeat_key: []", "repeat_key", "is empty: leave it out for the default"),
        ("repeat_key: [type]", "", "repeat_key has no effect without repeat_interval: add e.g."),
        ("digest: {after: 0, window: 5m}", "digest.after", "must be at least 1 (got 0): how many are sent one by one"),
        ("digest: {after: many, window: 5m}", "digest.after", "valid integer"),
        ("digest: {after: true, window: 5m}", "digest.after", "a whole number of notifications"),
        ("digest: {after: 5}", "digest.window", "Field required"),
        ("digest: {after: 5, window: -1}", "digest.window", "must be longer than zero"),
        ("digest: {after: 5, window: 5m, every: 1m}", "digest.every", "Extra inputs are not permitted"),
        ('quiet_hours: {from: "22:00", to: "07:00"}', "quiet_hours.timezone", "Field required"),
        # YAML 1.1 reads an unquoted 22:00 as 1320 (base 60); 07:00 stays a string.
        ("quiet_hours: {from: 22:00, to: 07:00, timezone: UTC}", "quiet_hours.from", 'in quotes, e.g. "22:00"'),
        (night("UTC", start='"25:00"'), "quiet_hours.from", "'25:00' is not a time of day"),
        (night("UTC", start='"10pm"'), "quiet_hours.from", 'write "HH:MM" in quotes'),
        (night("UTC", start='"07:00"'), "quiet_hours", "'from' and 'to' are the same"),
        (night("Europe/Viena"), "quiet_hours.timezone", "did you mean Europe/Vienna?"),
        (night("europe/vienna"), "quiet_hours.timezone", "did you mean Europe/Vienna?"),
        (night("Europe"), "quiet_hours.timezone", "'Europe' is not an IANA time zone"),
        (night("/etc/localtime"), "quiet_hours.timezone", "Names look like Europe/Vienna"),
        (night('"../../etc/passwd"'), "quiet_hours.timezone", "not an IANA time zone"),
        (night("zone.tab"), "quiet_hours.timezone", "not an IANA time zone"),
    ],
)
def test_bad_values_say_what_is_wrong_and_what_to_write(text: str, where: str, says: str) -> None:
    found = errors(text)
    assert where in found, found
    assert says in found[where], found[where]


def test_times_may_omit_the_leading_zero_and_zones_are_trimmed() -> None:
    quiet = route('quiet_hours: {from: "9:30", to: "17:05", timezone: " UTC "}').quiet_hours
    assert quiet is not None
    assert (quiet.start, quiet.end, quiet.timezone, quiet.crosses_midnight) == (time(9, 30), time(17, 5), "UTC", False)


def test_the_models_are_frozen() -> None:
    parsed = route("repeat_interval: 10m")
    with pytest.raises(ValidationError):
        parsed.repeat_interval = 5.0  # type: ignore[misc]
