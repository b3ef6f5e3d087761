"""bench/render_cost.py, the render-path A/B harness: it runs, times every stage, and renders real payloads."""

from __future__ import annotations

import json

import pytest

from bench import render_cost
from notifier.keptn.events import load_event
from notifier.templating import TemplateSet


def test_it_times_every_stage_of_both_workloads(capsys: pytest.CaptureFixture[str]) -> None:
    assert render_cost.main(["--repeat", "5", "--rounds", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"bench", "samples"}
    for stages in result.values():
        assert tuple(stages) == render_cost.STAGES
        for figures in stages.values():
            assert 0 < figures["best"] <= figures["median"] <= figures["worst"]


def test_the_workloads_are_distinct_real_events_that_render_without_the_fallback() -> None:
    templates = TemplateSet(None, bridge_url=render_cost.BRIDGE_URL)
    bodies = render_cost.workloads()
    assert len(bodies["bench"]) >= render_cost.VARIANTS and len(bodies["samples"]) >= render_cost.VARIANTS
    for bodies_of_one in bodies.values():
        events = [load_event(body) for body in bodies_of_one]
        # Copies with their own id and Keptn context, so that no cache keyed on them hits as it never would.
        assert len({(event.id, event.keptn_context) for event in events}) == len(events)
        assert all(templates.render(event).template != "fallback" for event in events)


def test_the_table_names_every_stage() -> None:
    figures = {"best": 1.0, "median": 2.0, "worst": 3.0}
    shown = render_cost.table({"bench": {stage: figures for stage in render_cost.STAGES}})
    assert all(f"bench {stage}" in shown for stage in render_cost.STAGES)
