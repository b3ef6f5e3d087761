"""From a stored event to a payload: the template runs once per event, the renderer once per event and platform."""

from pathlib import Path

import orjson
import pytest

from notifier.config.routes import RouteConfig
from notifier.delivery.compose import MOST_RENDERS, RENDERS_PER_CHANNEL, Composer
from notifier.delivery.mentions import RouteMentions
from notifier.keptn.events import EventError, KeptnEvent, StoredEvent, load_event
from notifier.message import Message
from notifier.metrics import Metrics
from notifier.render.mentions import MentionRule
from notifier.templating import TemplateSet
from tests.helpers import keptn_event


class CountingTemplates(TemplateSet):
    """The real template set, counting how often it is asked to render."""

    def __init__(self, user_dir: Path | None = None) -> None:
        super().__init__(user_dir)
        self.renders = 0

    def render(self, event: KeptnEvent, template: str | None = None) -> Message:
        self.renders += 1
        return super().render(event, template)


def body(event_id: str = "c-1") -> bytes:
    return orjson.dumps(keptn_event(event_id))


def failures(metrics: Metrics, template: str) -> float | None:
    return metrics.registry.get_sample_value("keptn_notifier_template_failures_total", {"template": template})


def test_fan_out_to_several_platforms_renders_the_template_once() -> None:
    templates = CountingTemplates()
    composer = Composer(templates)
    slack = composer.payload("ev-1", StoredEvent(body()), None, "slack")
    assert (
        composer.payload("ev-1", StoredEvent(body()), None, "slack") is slack
    )  # a second Slack channel: the same payload
    teams = composer.payload("ev-1", StoredEvent(body()), None, "teams")
    text = composer.payload("ev-1", StoredEvent(body()), None, "text")
    assert templates.renders == 1
    assert isinstance(slack, dict) and "blocks" in slack
    assert isinstance(teams, dict) and teams != slack
    assert isinstance(text, str) and text.startswith("[FAILURE] ")


def test_another_event_or_another_template_is_rendered_on_its_own() -> None:
    templates = CountingTemplates()
    composer = Composer(templates)
    default = composer.payload("ev-1", StoredEvent(body()), "default", "text")
    chosen = composer.payload("ev-1", StoredEvent(body()), None, "text")
    composer.payload("ev-2", StoredEvent(body("c-2")), None, "text")
    assert templates.renders == 3
    assert default != chosen
    assert isinstance(default, str) and "sh.keptn.event.evaluation.finished" in default.splitlines()[0]


@pytest.mark.parametrize("channels", [1, 3, 40])
def test_the_cache_forgets_the_least_recently_used_render_past_its_size_per_channel(channels: int) -> None:
    templates = CountingTemplates()
    composer = Composer(templates, channels=channels)
    size = min(MOST_RENDERS, RENDERS_PER_CHANNEL * channels)
    composer.payload("kept", StoredEvent(body("kept")), None, "text")
    composer.payload("dropped", StoredEvent(body("dropped")), None, "text")
    for index in range(size - 1):
        composer.payload("kept", StoredEvent(body("kept")), None, "text")  # used again: moves to the young end
        composer.payload(f"filler-{index}", StoredEvent(body(f"f-{index}")), None, "text")
    assert templates.renders == size + 1
    composer.payload("kept", StoredEvent(body("kept")), None, "text")
    assert templates.renders == size + 1
    composer.payload("dropped", StoredEvent(body("dropped")), None, "text")
    assert templates.renders == size + 2


def test_channels_a_fetch_batch_apart_share_every_render() -> None:
    """Five channels, the last one two fetch batches (256 events) behind the first: nothing is rendered twice."""
    templates = CountingTemplates()
    composer = Composer(templates, channels=5)
    events = [(f"ev-{index}", StoredEvent(body(f"c-{index}"))) for index in range(1_000)]
    for step in range(len(events) + 4 * 64):
        for channel in range(5):
            position = step - channel * 64
            if 0 <= position < len(events):
                composer.payload(*events[position], None, "slack")
    assert templates.renders == len(events)


def test_a_route_template_that_does_not_exist_gives_the_fallback_and_is_counted() -> None:
    metrics = Metrics()
    message = Composer(TemplateSet(None), metrics).message(load_event(body()), "no-such-template")
    assert message.template == "fallback"
    assert "no-such-template" in message.text and "does not exist" in message.text
    assert failures(metrics, "no-such-template") == 1


def test_a_failing_template_is_counted_under_the_template_chosen_for_the_event(tmp_path: Path) -> None:
    (tmp_path / "sh.keptn.event.evaluation.finished.yaml").write_text('title: "{{ 1 // 0 }}"\n')
    metrics = Metrics()
    composer = Composer(TemplateSet(tmp_path), metrics)
    assert composer.message(load_event(body()), None).template == "fallback"
    assert failures(metrics, "sh.keptn.event.evaluation.finished") == 1
    fine = composer.message(load_event(orjson.dumps(keptn_event("t", "sh.keptn.event.test.finished"))), None)
    assert fine.template != "fallback"
    assert failures(metrics, "sh.keptn.event.test.finished") is None


@pytest.mark.parametrize("damaged", [b"{not json", b'{"id": "x"}', b"[]"], ids=["not-json", "no-attributes", "list"])
def test_a_damaged_stored_event_is_an_event_error_that_says_so(damaged: bytes) -> None:
    with pytest.raises(EventError, match="stored event cannot be read"):
        load_event(damaged)


def test_a_reload_drops_the_renders_so_the_next_send_uses_the_new_templates_and_mentions(tmp_path: Path) -> None:
    """A notification rendered for one channel and sent to the next after a reload gets the new config there."""
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, title in ((old, "gate v1"), (new, "gate v2")):
        folder.mkdir()
        (folder / "sh.keptn.event.evaluation.finished.yaml").write_text(f'title: "{title}"\n')
    route = RouteConfig(name="gates", channels=["hook"], mentions=[MentionRule(slack=("<!here>",))])
    composer = Composer(TemplateSet(old), mentions=RouteMentions([]))
    before = composer.payload("ev-1", StoredEvent(body()), None, "text", "gates")
    assert isinstance(before, str) and "gate v1" in before and "<!here>" not in before
    composer.reconfigure(TemplateSet(new), RouteMentions([route]), {}, "", 1)
    after = composer.payload("ev-1", StoredEvent(body()), None, "text", "gates")
    assert isinstance(after, str) and "gate v2" in after and "gate v1" not in after
    slack = composer.payload("ev-1", StoredEvent(body()), None, "slack", "gates")
    assert "<!here>" in orjson.dumps(slack).decode()
