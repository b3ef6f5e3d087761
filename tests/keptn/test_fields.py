"""Issue 17 §3: one table of event-field readers, used by routes, the subscription filters and repeat keys.

The property tests build any event (outcome fields that disagree, SLIs, values of every JSON type) and check that
routes, the filters and repeat keys see the same value of each field, that `result` is the worst the event
reports everywhere, and that a repeat key of any other field is what it was before the table existed (keys are
stored: a restart after an upgrade must find its windows).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.keptn.events import KeptnEvent, event_from_mapping
from notifier.keptn.fields import FIELDS, UnknownField, canonical, field_reader
from notifier.keptn.match import CompiledMatch, Match
from notifier.keptn.result import result_of
from notifier.keptn.subjects import SubjectSet
from notifier.noise.decide import repeat_key_fields, repeat_key_of
from notifier.pipeline.subscription import Subscription
from tests.helpers import EXAMPLES as SAMPLES

EVALUATION = "sh.keptn.event.evaluation.finished"
# The route setting of each field a route can match on.
ROUTE_SETTINGS = {
    "project": "projects",
    "stage": "stages",
    "service": "services",
    "result": "results",
    "status": "statuses",
}
FILTERED = ("project", "stage", "service")

WORDS = st.sampled_from(["pass", "Pass", "warning", "fail", "failed", "error", "succeeded", "errored", "aborted", ""])
SCALARS = WORDS | st.text(max_size=8) | st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False)
VALUES = SCALARS | st.lists(SCALARS, max_size=2) | st.dictionaries(st.sampled_from(["b", "a"]), SCALARS, max_size=2)
TARGETS = st.lists(st.fixed_dictionaries({"criteria": st.just("<600"), "violated": st.booleans()}), max_size=2)
INDICATORS = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "status": WORDS | st.sampled_from(["info", "skipped"]) | st.none(),
            "passTargets": TARGETS,
            "warningTargets": TARGETS,
        },
    ),
    max_size=4,
)
DATA = st.fixed_dictionaries(
    {},
    optional={
        "project": VALUES,
        "stage": VALUES,
        "service": VALUES,
        "result": VALUES,
        "status": VALUES,
        "message": VALUES,
        "labels": st.dictionaries(st.sampled_from(["team", "Problem URL"]), SCALARS, max_size=2) | VALUES,
        "evaluation": st.fixed_dictionaries({}, optional={"result": VALUES, "indicatorResults": INDICATORS}),
    },
)
ATTRIBUTES = st.fixed_dictionaries({}, optional={"subject": VALUES, "shkeptncontext": VALUES})


def make_event(data: dict[str, Any], attributes: dict[str, Any] | None = None) -> KeptnEvent:
    raw = {"specversion": "1.0", "id": "e-1", "source": "lighthouse-service", "type": EVALUATION, **(attributes or {})}
    return event_from_mapping({**raw, "data": data})


def key_value(event: KeptnEvent, name: str) -> str:
    return dict(repeat_key_fields(event, [name]))[name]


def route_miss(name: str, wanted: str, event: KeptnEvent) -> str | None:
    match = Match(types=[EVALUATION], **{ROUTE_SETTINGS[name]: [wanted]})
    return CompiledMatch.of(match).miss(event)


# ---- the same event, the same value, everywhere ------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(data=DATA)
def test_routes_repeat_keys_and_the_table_agree_on_the_result(data: dict[str, Any]) -> None:
    event = make_event(data)
    worst = result_of(event.data)
    assert FIELDS["result"](event) == field_reader("result")(event) == key_value(event, "result") == worst
    assert route_miss("result", worst, event) is None
    assert route_miss("result", worst + "-other", event) == f"result {worst or '(none)'!r} is not one of {worst}-other"


@settings(max_examples=400, deadline=None)
@given(data=DATA, name=st.sampled_from(sorted(ROUTE_SETTINGS)))
def test_a_route_matches_exactly_the_value_the_repeat_key_holds(data: dict[str, Any], name: str) -> None:
    event = make_event(data)
    value = key_value(event, name)
    assert value == FIELDS[name](event)
    assert route_miss(name, value, event) is None
    assert route_miss(name, value + "-other", event) is not None


@settings(max_examples=300, deadline=None)
@given(data=DATA, name=st.sampled_from(FILTERED))
def test_a_filter_lets_through_exactly_the_value_the_repeat_key_holds(data: dict[str, Any], name: str) -> None:
    event = make_event(data)
    value = key_value(event, name)
    topic = SubjectSet.parse(["sh.keptn.>"])
    assert Subscription(topic, **{f"{name}s": [value]}).rejection(event) is None
    rejection = Subscription(topic, **{f"{name}s": [value + "-other"]}).rejection(event)
    assert rejection == f"{name} {value or '(none)'!r} is filtered out by {name.upper()}_FILTER"


@settings(max_examples=300, deadline=None)
@given(data=DATA)
def test_both_spellings_of_a_label_read_what_a_route_compares(data: dict[str, Any]) -> None:
    event = make_event(data)
    for key in ("team", "Problem URL", "absent"):
        value = field_reader(f"label:{key}")(event)
        assert value == field_reader(f"labels.{key}")(event) == event.labels.get(key, "")
        if key in event.labels:
            assert CompiledMatch.of(Match(labels={key: value})).miss(event) is None


# ---- a repeat key of any other field is the key it was -----------------------------------------------------


def key_before_the_table(event: KeptnEvent, keys: list[str]) -> str:
    """repeat_key_of as it read fields before issue 17 (only `result` was read differently: `data.result`)."""

    def read(name: str) -> str:
        if name.startswith("labels."):
            return event.labels.get(name[len("labels.") :], "")
        if name in ("type", "source", "status", "result"):
            value: object = getattr(event, name)
        elif name in ("subject", "shkeptncontext"):
            value = event.raw.get(name)
        else:
            value = event.data.get(name)
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()

    return hashlib.sha256(orjson.dumps([(name, read(name)) for name in keys])).hexdigest()


OTHER_FIELDS = [name for name in FIELDS if name != "result"]


@settings(max_examples=400, deadline=None)
@given(
    data=DATA,
    attributes=ATTRIBUTES,
    keys=st.lists(st.sampled_from([*OTHER_FIELDS, "labels.team", "labels.Problem URL"]), min_size=1, unique=True),
)
def test_a_key_without_result_is_unchanged(data: dict[str, Any], attributes: dict[str, Any], keys: list[str]) -> None:
    event = make_event(data, attributes)
    assert repeat_key_of(event, keys) == key_before_the_table(event, keys)


def test_a_result_that_said_pass_beside_a_failed_evaluation_is_keyed_as_the_failure_it_is() -> None:
    said_pass = make_event({"project": "sockshop", "result": "pass", "evaluation": {"result": "fail"}})
    passed = make_event({"project": "sockshop", "result": "pass", "evaluation": {"result": "pass"}})
    assert key_value(said_pass, "result") == "fail"
    assert key_value(passed, "result") == "pass"
    assert repeat_key_of(said_pass, ["project", "result"]) != repeat_key_of(passed, ["project", "result"])
    # Before, both were keyed "pass": the genuine pass that followed was suppressed as a repeat.
    assert key_before_the_table(said_pass, ["project", "result"]) == key_before_the_table(passed, ["project", "result"])


# ---- names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("projcet", "unknown field 'projcet' (did you mean 'project'?): use type, source, subject, shkeptncontext, "),
        ("Result", "(did you mean 'result'?)"),
        ("lable:team", "(did you mean 'label:team'?)"),
        ("label.team", "(did you mean 'label:team'?)"),
        ("label:", "unknown field 'label:': use"),
        ("labels.", "or label:<name> (e.g. label:team; labels.<name> works too)"),
        ("id", "unknown field 'id': use"),
    ],
)
def test_an_unknown_name_says_which_names_exist_and_the_closest(name: str, says: str) -> None:
    with pytest.raises(UnknownField) as raised:
        field_reader(name)
    assert says in str(raised.value)


def test_every_name_that_worked_before_works() -> None:
    before = ["type", "source", "subject", "shkeptncontext", "project", "stage", "service", "result", "status"]
    for name in [*before, "message", "labels.team", "labels.Problem URL", "label:team", "label:Problem URL"]:
        assert callable(field_reader(name))
    assert canonical("labels.Problem URL") == canonical("label:Problem URL") == "label:Problem URL"
    assert canonical("project") == "project"


def test_a_project_create_event_is_routed_by_the_project_it_names() -> None:
    """Keptn's project.create.triggered names its project only in `data.projectName`."""
    event = event_from_mapping(orjson.loads((SAMPLES / "project-create-triggered.json").read_bytes()))
    assert FIELDS["project"](event) == "sockshop"
    assert CompiledMatch.of(Match(projects=["sockshop"])).miss(event) is None
    assert CompiledMatch.of(Match(projects=["other"])).miss(event) == "project 'sockshop' is not one of other"
