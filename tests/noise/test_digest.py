"""The digest message: what was held, counted and bounded, in plain text that every renderer can escape."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.keptn.events import KeptnEvent, event_from_mapping
from notifier.message import Severity
from notifier.noise.digest import MAX_LINKS, digest_message
from notifier.render import RENDERERS
from notifier.render.text import render_text

EXAMPLES = Path(__file__).resolve().parents[2] / "notifier" / "samples"
BRIDGE = "https://keptn.example.com/bridge"
QUIET = "during quiet hours (22:00-07:00 Europe/Vienna)"


def example(name: str) -> KeptnEvent:
    return event_from_mapping(json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8")))


def event(n: int, *, context: str = "", type_: str = "sh.keptn.event.evaluation.finished", **data: Any) -> KeptnEvent:
    return event_from_mapping(
        {
            "specversion": "1.0",
            "id": str(n),
            "source": "s",
            "type": type_,
            "shkeptncontext": context,
            "time": f"2026-11-20T22:{n % 60:02d}:00Z",
            "data": {"project": "sockshop", "stage": "production", "service": "carts", **data},
        }
    )


def bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("• ", "… and"))]


def test_a_night_of_keptn_events_in_one_message() -> None:
    held = [
        example("evaluation-finished-fail"),
        example("evaluation-finished-pass"),
        example("evaluation-finished-fail"),
        example("sequence-finished"),
        example("approval-triggered-manual"),
        example("tekton-pipelinerun-successful"),
    ]
    message = digest_message(held, BRIDGE, QUIET)
    assert message.title == f"6 notifications held {QUIET}"
    assert message.severity is Severity.FAILURE
    assert message.summary == f"6 notifications held {QUIET}: 2 failed, 1 awaiting approval, 1 received, 2 passed"
    assert message.text.splitlines() == [
        "By type:",
        "• sh.keptn.event.evaluation.finished: 2 failed, 1 passed",
        "• dev.tekton.event.pipelinerun.successful.v1: 1 received",
        "• sh.keptn.event.approval.triggered: 1 awaiting approval",
        "• sh.keptn.event.production.delivery.finished: 1 passed",
        "",
        "Runs:",
        f"• sockshop/carts (staging): 2 failed · {BRIDGE}/trace/9f0d7c21-5b7a-4e8e-b1c3-64a2f5d8e917",
        "• sockshop/carts (staging, production): 1 awaiting approval, 2 passed · "
        f"{BRIDGE}/trace/3b6e5c0a-8f3e-4c9d-9a51-2d7f1e0b6c42",
    ]
    assert {fact.name: fact.value for fact in message.facts} == {
        "Projects": "sockshop",
        "Stages": "staging, production",
        "Services": "carts",
        "Runs": "2",
    }
    assert [(link.title, link.url) for link in message.links] == [
        ("Run trace 9f0d7c21", f"{BRIDGE}/trace/9f0d7c21-5b7a-4e8e-b1c3-64a2f5d8e917"),
        ("Run trace 3b6e5c0a", f"{BRIDGE}/trace/3b6e5c0a-8f3e-4c9d-9a51-2d7f1e0b6c42"),
    ]
    assert message.footer.startswith("keptn-notifier digest · events from 2026-11-20 ")
    assert message.template == "digest"


def test_without_a_bridge_a_run_is_named_by_the_short_form_of_its_context() -> None:
    message = digest_message([event(1, context="0123456789abcdef", result="pass")], "", "after more than 5 within 5m")
    assert message.title == "1 notification held after more than 5 within 5m"
    assert "• sockshop/carts (production): 1 passed · context 01234567" in message.text
    assert message.links == ()
    assert message.footer == "keptn-notifier digest · events at 2026-11-20 22:01:00 UTC"


def test_an_outage_stays_one_bounded_message() -> None:
    held = [
        event(n, context=f"ctx-{n % 200:03d}", type_=f"sh.keptn.event.task{n % 40}.finished", project=f"p{n % 30}")
        for n in range(2000)
    ]
    message = digest_message(held, BRIDGE, QUIET, max_lines=20)
    lines = bullets(message.text)
    assert len(lines) == 20
    assert "… and 31 more types" in lines  # 40 types, 9 shown and one line that counts the rest
    assert "… and 191 more runs" in lines
    assert message.facts[0].value.endswith("… and 20 more")  # 30 projects, 10 named
    assert len(message.links) == MAX_LINKS
    for renderer in RENDERERS.values():
        renderer(message)  # every platform renders it within its limits


def test_event_text_stays_plain_text_in_every_renderer() -> None:
    hostile = event(1, context="<!channel>", project="<!here> <@U024BE7LH>", service="*bold* [x](https://evil)")
    message = digest_message([hostile], BRIDGE, QUIET)
    slack = json.dumps(RENDERERS["slack"](message))
    assert "<!here>" not in slack and "<@U024BE7LH>" not in slack and "<!channel>" not in slack
    assert "%3C%21channel%3E" in message.links[0].url  # the context is quoted into the link, not spliced
    assert "<!here>" in render_text(message)  # the message itself holds the text as it came


def test_a_digest_of_nothing_or_with_no_room_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="at least one held event"):
        digest_message([], BRIDGE, QUIET)
    with pytest.raises(ValueError, match="max_lines must be at least 2"):
        digest_message([event(1)], BRIDGE, QUIET, max_lines=1)


HELD = st.lists(
    st.builds(
        lambda n, task, result, context: event(
            n, context=context, type_=f"sh.keptn.event.{task}.finished", result=result
        ),
        st.integers(0, 10_000),
        st.sampled_from(["deployment", "test", "evaluation", "release", "approval"]),
        st.sampled_from(["pass", "warning", "fail", ""]),
        st.sampled_from(["", "a", "b", "c", "d", "e", "f"]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(held=HELD, max_lines=st.integers(2, 12))
def test_the_lines_are_bounded_and_every_held_event_is_counted(held: list[KeptnEvent], max_lines: int) -> None:
    bounded = digest_message(held, BRIDGE, QUIET, max_lines=max_lines)
    assert len(bullets(bounded.text)) <= max_lines
    assert bounded.title.startswith(f"{len(held)} notification")

    whole = digest_message(held, BRIDGE, QUIET, max_lines=1000)
    type_part = whole.text.split("\n\nRuns:")[0]
    assert sum(int(number) for number in re.findall(r"(\d+) [a-z ]+?(?:,|$)", type_part, re.MULTILINE)) == len(held)
    contexts = {item.keptn_context for item in held if item.keptn_context}
    assert len(bullets(whole.text)) == len({item.type for item in held}) + len(contexts)


def test_a_digest_links_to_at_most_two_runs_and_one_run_as_every_message_does() -> None:
    one = digest_message([event(n, context="0123456789abcdef") for n in range(3)], BRIDGE, QUIET)
    assert [link.title for link in one.links] == ["Run trace"]
    many = digest_message([event(n, context=f"ctx-{n}", result="fail") for n in range(5)], BRIDGE, QUIET)
    assert MAX_LINKS == 2 and [link.title for link in many.links] == ["Run trace ctx-0", "Run trace ctx-1"]
