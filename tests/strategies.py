"""Hypothesis strategies for events: any JSON where Keptn puts fields, Keptn-like types, whole CloudEvents."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=50)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
keptn_words = st.sampled_from(
    [
        "sh",
        "keptn",
        "event",
        "evaluation",
        "finished",
        "started",
        "triggered",
        "dev",
        "delivery",
        "status",
        "changed",
        "approval",
        "remediation",
        "problem",
        "events",
        "log",
        "error",
        "project",
        "create",
        "x",
    ]
)
event_types = st.lists(keptn_words, min_size=1, max_size=7).map(".".join)
known_fields = st.fixed_dictionaries(
    {},
    optional={
        "project": json_values,
        "stage": json_values,
        "service": json_values,
        "result": json_values,
        "status": json_values,
        "message": json_values,
        "labels": json_values,
        "evaluation": json_values,
        "problem": json_values,
        "approval": json_values,
        "deployment": json_values,
        "ProblemTitle": json_values,
    },
)


def events(data: Any = None) -> Any:
    return st.fixed_dictionaries(
        {
            "specversion": st.just("1.0"),
            "id": st.text(min_size=1, max_size=20),
            "source": st.text(min_size=1, max_size=20),
            "type": event_types,
            "data": data if data is not None else (known_fields | st.dictionaries(st.text(max_size=8), json_values)),
        },
        optional={"shkeptncontext": json_values, "time": json_values, "triggeredid": json_values},
    )
