"""Slack Block Kit rendering: limits, escaping, severity, link filtering."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from slack_sdk.models.attachments import BlockAttachment
from slack_sdk.models.blocks import Block

from notifier.message import Fact, Link, Message, Severity
from notifier.render.slack import render_slack
from tests.payload_checks import assert_no_unescaped_control, assert_valid_slack_payload, slack_blocks, utf16_length

HOSTILE = "<!channel> <!here> <@U123> <#C042|general> <https://evil.example|click> &amp; a & b > c"


def blocks_of(payload: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [block for block in slack_blocks(payload) if block["type"] == kind]


def all_texts(payload: dict[str, Any]) -> list[str]:
    """Every text object's text in the blocks, in order."""
    texts: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if value.get("type") in ("plain_text", "mrkdwn"):
                texts.append(value["text"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(slack_blocks(payload))
    return texts


def render_valid(message: Message) -> dict[str, Any]:
    payload = render_slack(message)
    assert_valid_slack_payload(payload)
    assert_no_unescaped_control(payload)
    return payload


def test_full_message_has_every_block_in_order() -> None:
    payload = render_valid(
        Message(
            title="Deployment finished",
            severity=Severity.SUCCESS,
            summary="carts deployed to dev",
            text="All good.",
            facts=(Fact("Project", "sockshop"), Fact("Stage", "dev")),
            links=(Link("Bridge", "https://bridge.example/trace/1"),),
            footer="context 123",
        )
    )
    assert [block["type"] for block in slack_blocks(payload)] == ["header", "section", "section", "actions", "context"]
    assert payload["text"] == "carts deployed to dev"
    assert slack_blocks(payload)[2]["fields"][0]["text"] == "*Project*\nsockshop"
    assert slack_blocks(payload)[3]["elements"][0]["url"] == "https://bridge.example/trace/1"


def test_empty_parts_are_omitted_not_sent_empty() -> None:
    payload = render_valid(Message(title="Only a title", text="  \n\n ", footer=" ", facts=(Fact(" ", ""),)))
    assert [block["type"] for block in slack_blocks(payload)] == ["header"]
    assert payload["text"] == "Only a title"


def test_blank_title_and_summary_still_give_a_valid_fallback() -> None:
    payload = render_valid(Message(title="", severity=Severity.WARNING, text="body"))
    assert payload["text"] == "Warning"
    assert blocks_of(payload, "header")[0]["text"]["text"] == ":warning: Warning"
    summary_only = render_valid(Message(title=" ", summary="the summary"))
    assert summary_only["text"] == "the summary"
    assert blocks_of(summary_only, "header")[0]["text"]["text"] == ":information_source: the summary"


@pytest.mark.parametrize(
    ("severity", "emoji"),
    [
        (Severity.SUCCESS, ":white_check_mark:"),
        (Severity.INFO, ":information_source:"),
        (Severity.WARNING, ":warning:"),
        (Severity.FAILURE, ":x:"),
    ],
)
def test_header_emoji_follows_severity(severity: Severity, emoji: str) -> None:
    header = blocks_of(render_valid(Message(title="Evaluation done", severity=severity)), "header")[0]
    assert header["text"]["text"] == f"{emoji} Evaluation done"


@pytest.mark.parametrize(
    "title",
    [":rocket: Released", "🚀 Released", "✅ Passed", "\u2139\ufe0f Monitoring configuration received", "⚠️ Warning"],
)
def test_no_emoji_prefix_when_the_title_has_one(title: str) -> None:
    header = blocks_of(render_valid(Message(title=title, severity=Severity.FAILURE)), "header")[0]
    assert header["text"]["text"] == title


def test_hostile_text_is_escaped_everywhere() -> None:
    payload = render_valid(
        Message(
            title=HOSTILE,
            summary=HOSTILE,
            text=HOSTILE,
            facts=(Fact(HOSTILE, HOSTILE),),
            links=(Link(HOSTILE, "https://ok.example/"),),
            footer=HOSTILE,
        )
    )
    escaped = (
        "&lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;#C042|general&gt; "
        "&lt;https://evil.example|click&gt; &amp;amp; a &amp; b &gt; c"
    )
    assert payload["text"] == escaped
    header, section, field, button, footer = all_texts(payload)
    assert section == footer == escaped
    assert field == f"*{escaped}*\n{escaped}"
    assert header == f":information_source: {escaped}"
    # A button label holds 75 characters: the cut falls between entities, never inside one.
    assert button == "&lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;#C042|general&gt; &lt;htt…"


def test_json_escaping_does_not_protect_but_entities_do() -> None:
    # The raw JSON holds no "<" at all: a decoder cannot turn anything back into <!channel>.
    body = json.dumps(render_slack(Message(title="t", text="<!channel>")))
    assert "<" not in slack_blocks(body)[1]["text"]["text"]


def test_link_names_and_parse_are_never_set_and_mrkdwn_is_verbatim() -> None:
    payload = render_valid(Message(title="t", text="@channel #general", facts=(Fact("a", "b"),), footer="f"))
    assert "link_names" not in payload and "parse" not in payload
    mrkdwn = [
        element
        for block in slack_blocks(payload)
        for element in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
        if isinstance(element, dict) and element.get("type") == "mrkdwn"
    ]
    assert len(mrkdwn) == 3
    assert all(element["verbatim"] is True for element in mrkdwn)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://files.example/x",
        "https:no-host",
        "//evil.example/path",
        "https://evil.example/a\tb",
        "https://evil.example/a\u00a0b",
        "https://evil.example\\@good.example/",
        "https://" + "a" * 3000 + ".example/",
    ],
)
def test_unusable_links_are_dropped(url: str) -> None:
    payload = render_valid(Message(title="t", links=(Link("bad", url), Link("good", "http://ok.example/"))))
    buttons = blocks_of(payload, "actions")[0]["elements"]
    assert [button["url"] for button in buttons] == ["http://ok.example/"]


def test_only_unusable_links_give_no_actions_block() -> None:
    payload = render_valid(Message(title="t", links=(Link("x", "javascript:alert(1)"),)))
    assert not blocks_of(payload, "actions")


def test_long_button_text_is_cut_to_75() -> None:
    payload = render_valid(Message(title="t", links=(Link("&" * 200, "https://ok.example/"),)))
    text = blocks_of(payload, "actions")[0]["elements"][0]["text"]["text"]
    assert utf16_length(text) <= 75
    assert re.fullmatch(r"(&amp;)+…", text)


def test_51_facts_keep_50_in_sections_of_10() -> None:
    facts = tuple(Fact(f"name {index}", f"value {index}") for index in range(51))
    sections = [block for block in slack_blocks(render_valid(Message(title="t", facts=facts))) if "fields" in block]
    fields = [field["text"] for section in sections for field in section["fields"]]
    assert [len(section["fields"]) for section in sections] == [10, 10, 10, 10, 10]
    assert fields[0] == "*name 0*\nvalue 0"
    assert fields[-1] == "*name 49*\nvalue 49"


def test_10000_character_text_is_split_at_line_ends_into_sections() -> None:
    text = "\n".join(f"line {index:05d} " + "x" * 80 for index in range(110))
    assert len(text) > 10_000
    sections = [block["text"]["text"] for block in slack_blocks(render_valid(Message(title="t", text=text)))[1:]]
    assert len(sections) == 4
    assert all(utf16_length(section) <= 3000 for section in sections)
    assert "\n".join(sections) == text


def test_text_over_the_message_budget_is_cut_with_an_ellipsis() -> None:
    text = "\n".join(f"line {index:05d} " + "x" * 80 for index in range(220))
    sections = [block["text"]["text"] for block in slack_blocks(render_valid(Message(title="t", text=text)))[1:]]
    assert sections[0].startswith("line 00000 ")
    assert sections[-1].endswith("x…")
    assert all(re.fullmatch(r"(line \d{5} x{80}\n?)+", section) for section in sections[:-1])


def test_text_of_entities_is_never_cut_inside_an_entity() -> None:
    payload = render_valid(Message(title="t", text="&" * 10_000))
    sections = [block["text"]["text"] for block in slack_blocks(payload) if block["type"] == "section"]
    assert sections
    assert all(re.fullmatch(r"(&amp;)+…?", section) for section in sections)
    assert sections[-1].endswith("…")


def test_300_character_title_is_cut_to_150_with_an_ellipsis() -> None:
    header = blocks_of(render_valid(Message(title="T" * 300)), "header")[0]["text"]["text"]
    assert utf16_length(header) == 150
    assert header.startswith(":information_source: TTT")
    assert header.endswith("T…")


def test_200_links_become_at_most_25_buttons() -> None:
    links = tuple(Link(f"link {index}", f"https://example.com/{index}") for index in range(200))
    buttons = blocks_of(render_valid(Message(title="t", links=links)), "actions")[0]["elements"]
    assert 0 < len(buttons) <= 25
    assert buttons[0]["text"]["text"] == "link 0"
    assert len({button["action_id"] for button in buttons}) == len(buttons)


def test_huge_footer_is_cut() -> None:
    context = blocks_of(render_valid(Message(title="t", footer="f" * 100_000)), "context")[0]
    assert context["elements"][0]["text"].endswith("f…")


def test_everything_at_the_limit_at_once_still_validates() -> None:
    worst = "&😀<" * 5000
    message = Message(
        title=worst,
        summary=worst,
        text=worst + "\n" + worst,
        facts=tuple(Fact(worst, worst) for _ in range(60)),
        links=tuple(Link(worst, f"https://example.com/{index}") for index in range(200)),
        footer=worst,
    )
    payload = render_valid(message)
    assert blocks_of(payload, "header")
    assert utf16_length(payload["text"]) <= 300


def test_a_short_text_keeps_facts_and_links_while_a_long_text_gives_way() -> None:
    facts = tuple(Fact(f"n{index}", "v" * 150) for index in range(20))
    payload = render_valid(Message(title="t", text="word " * 5000, facts=facts))
    fields = [field for block in slack_blocks(payload) if "fields" in block for field in block["fields"]]
    assert len(fields) == 20
    body = slack_blocks(payload)[1]["text"]["text"]
    assert body.startswith("word word") and slack_blocks(payload)[1]["type"] == "section"


@pytest.mark.parametrize(
    ("severity", "colour"),
    [
        (Severity.SUCCESS, "#2eb67d"),
        (Severity.INFO, "#1d9bd1"),
        (Severity.WARNING, "#ecb22e"),
        (Severity.FAILURE, "#e01e5a"),
    ],
)
def test_the_body_sits_beside_a_bar_of_the_severitys_colour(severity: Severity, colour: str) -> None:
    """Slack draws a legacy attachment's `color` as a bar beside the blocks inside it; the header stays on top,
    so the top-level `text` remains the notification text only."""
    message = Message(
        title="Deployment finished",
        severity=severity,
        summary="carts deployed to dev",
        text="All good.",
        facts=(Fact("Project", "sockshop"),),
        links=(Link("Open in Bridge", "https://bridge.example/trace/1"),),
        footer="context 123",
    )
    payload = render_valid(message)
    assert [block["type"] for block in payload["blocks"]] == ["header"]
    [attachment] = payload["attachments"]
    assert attachment["color"] == colour
    assert [block["type"] for block in attachment["blocks"]] == ["section", "section", "actions", "context"]
    assert payload["text"] == "carts deployed to dev"
    # slack-sdk's own models take it as a block attachment, without a complaint.
    parsed = BlockAttachment(blocks=Block.parse_all(attachment["blocks"]), color=attachment["color"])
    parsed.validate_json()
    assert parsed.to_dict()["blocks"] == attachment["blocks"] and parsed.to_dict()["color"] == colour
