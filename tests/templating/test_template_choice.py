"""The template choice per event type is remembered, for a bounded number of types (they come from outside)."""

from __future__ import annotations

from notifier.templating import TemplateSet
from notifier.templating.template_set import CHOICES_KEPT


def test_choices_stay_right_and_bounded_past_the_number_kept() -> None:
    templates = TemplateSet(None)
    for number in range(CHOICES_KEPT + 50):
        assert templates.select(f"sh.keptn.event.task{number}.finished") == "task.finished"
        assert templates.select(f"com.example.thing{number}") == "default"
    assert templates.select("sh.keptn.event.evaluation.finished") == "sh.keptn.event.evaluation.finished"
    assert templates.select("sh.keptn.event.evaluation.finished") == "sh.keptn.event.evaluation.finished"
    assert len(templates._chosen) == CHOICES_KEPT
