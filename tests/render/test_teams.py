"""Teams Workflows envelope rendering: schema validity, size, markdown neutralising, severity, links."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from notifier.message import Fact, Link, Message, Severity
from notifier.render.plaintext import clean
from notifier.render.teams import escape_markdown, render_teams
from tests.payload_checks import UNESCAPED_MARKUP, assert_plain_markdown, assert_valid_teams_envelope, json_size

HOSTILE = "[click](https://evil.example) <at>Everyone</at> **bold** _it_ `code` # head ~~s~~ \\[x](y)"


def card_of(envelope: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = envelope["attachments"][0]["content"]
    return content


def render_valid(message: Message) -> dict[str, Any]:
    envelope = render_teams(message)
    assert_valid_teams_envelope(envelope)
    return card_of(envelope)


def elements(value: object, kind: str) -> list[dict[str, Any]]:
    """Every object of a card type anywhere in the card, in document order."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if value.get("type") == kind:
            found.append(value)
        for item in value.values():
            found.extend(elements(item, kind))
    elif isinstance(value, list):
        for item in value:
            found.extend(elements(item, kind))
    return found


def markdown_texts(card: dict[str, Any]) -> list[str]:
    texts = [block["text"] for block in elements(card["body"], "TextBlock")]
    for fact_set in elements(card["body"], "FactSet"):
        texts.extend(text for fact in fact_set["facts"] for text in (fact["title"], fact["value"]))
    return texts


def test_envelope_and_card_shape() -> None:
    envelope = render_teams(Message(title="Deployment finished", severity=Severity.SUCCESS))
    assert_valid_teams_envelope(envelope)
    assert envelope["type"] == "message"
    assert len(envelope["attachments"]) == 1
    attachment = envelope["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.5"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["msteams"] == {"width": "Full"}
    title = card["body"][0]["items"][0]
    assert title == {
        "type": "TextBlock",
        "text": "Deployment finished",
        "size": "Medium",
        "weight": "Bolder",
        "wrap": True,
    }


@pytest.mark.parametrize(
    ("severity", "style"),
    [
        (Severity.SUCCESS, "good"),
        (Severity.INFO, "accent"),
        (Severity.WARNING, "warning"),
        (Severity.FAILURE, "attention"),
    ],
)
def test_title_container_style_follows_severity(severity: Severity, style: str) -> None:
    assert render_valid(Message(title="t", severity=severity))["body"][0]["style"] == style


def test_parts_in_order_and_empty_parts_omitted() -> None:
    full = render_valid(
        Message(
            title="t",
            text="one\ntwo\n\nthree",
            facts=(Fact("Project", "sockshop"),),
            links=(Link("Bridge", "https://bridge.example/"),),
            footer="context 1",
        )
    )
    assert [element["type"] for element in full["body"]] == [
        "Container",
        "RichTextBlock",
        "RichTextBlock",
        "RichTextBlock",
        "FactSet",
        "TextBlock",
    ]
    assert full["body"][4]["facts"] == [{"title": "Project", "value": "sockshop"}]
    assert full["body"][5]["isSubtle"] is True and full["body"][5]["size"] == "Small"
    assert full["actions"] == [{"type": "Action.OpenUrl", "title": "Bridge", "url": "https://bridge.example/"}]
    # Lines of one paragraph sit together; a blank line starts a new paragraph with normal spacing.
    assert full["body"][2]["spacing"] == "None" and "spacing" not in full["body"][3]

    bare = render_valid(Message(title="t", text=" \n ", facts=(Fact("", " "),), footer="\n"))
    assert [element["type"] for element in bare["body"]] == ["Container"]
    assert "actions" not in bare


def test_body_text_is_plain_text_runs_kept_verbatim() -> None:
    card = render_valid(Message(title="t", text=HOSTILE))
    runs = elements(card["body"], "TextRun")
    assert [run["text"] for run in runs] == [HOSTILE]
    # A TextRun is never parsed as markdown; no TextBlock carries the body.
    assert all(HOSTILE not in text for text in markdown_texts(card))


def test_hostile_markdown_is_escaped_in_title_facts_and_footer() -> None:
    card = render_valid(Message(title=HOSTILE, facts=(Fact(HOSTILE, HOSTILE),), footer=HOSTILE))
    texts = markdown_texts(card)
    assert len(texts) == 4
    for text in texts:
        assert_plain_markdown(text, HOSTILE)
        assert not UNESCAPED_MARKUP.search(text), text
    assert texts[0] == escape_markdown(HOSTILE)


@pytest.mark.parametrize(
    ("plain", "escaped"),
    [
        # What Teams clients showed with their backslashes: nothing in them acts as markdown.
        ("score 33.33", "score 33.33"),
        ("33.33", "33.33"),
        ("blue_green_service", "blue_green_service"),
        ("took (8m 30s)", "took (8m 30s)"),
        ("pass if <=+10% and <600", "pass if <=+10% and <600"),
        ("R&D, 2 * 3, ~5 min, it's `x", "R&D, 2 * 3, ~5 min, it's `x"),
        ("a\\b and C:\\dir", "a\\b and C:\\dir"),
        ("v1.2 stays, #123 stays, -5% stays", "v1.2 stays, #123 stays, -5% stays"),
        # What it would act on.
        ("[a](https://x)", "[a\\](https://x)"),
        ("[a]: https://x", "[a\\]: https://x"),
        ("<at>Bob</at>", "\\<at>Bob\\</at>"),
        ("<https://evil.example>", "\\<https://evil.example>"),
        ("&amp; &#35;", "\\&amp; \\&#35;"),
        ("a\\*b and a line\\\nbreak", "a\\\\*b and a line\\\\\nbreak"),
        ("- item\n  + sub\n* star", "\\- item\n  \\+ sub\n\\* star"),
        ("1. first\n 22) second\nv1.2 stays", "1\\. first\n 22\\) second\nv1.2 stays"),
        ("# title\n> quote\n####### no heading", "\\# title\n\\> quote\n####### no heading"),
        ("heading\n===\nrule\n- - -", "heading\n\\===\nrule\n\\- - -"),
        ("~~s~~ `y` *z* _w_ **b**", "\\~\\~s\\~\\~ \\`y\\` \\*z\\* \\_w\\_ \\*\\*b\\*\\*"),
        ("snake_case and _it_", "snake_case and \\_it\\_"),
        ("text\n\n    code?", "text\n\ncode?"),
        ("plain words, dots. and-dashes", "plain words, dots. and-dashes"),
    ],
)
def test_escape_markdown_escapes_only_what_markdown_acts_on(plain: str, escaped: str) -> None:
    assert escape_markdown(plain) == escaped
    assert_plain_markdown(escaped, plain)


MARKDOWN_PIECES = st.sampled_from(
    [" ", "  ", "    ", "\t", "\n", "\n\n", "-", "+", "=", "*", "_", "~", "`", "[", "]", "(", ")", "](", "]:", "<",
     ">", "<at>", "</at>", "<b>", "<!--", "<http://x.example>", "&", "&amp;", "&#35;", "#", "!", "\\", "|", ":",
     "1", "12", ".", "x", "é", "\u0663", "\u00a0", "http://a.example/b_c_d"]
)  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(MARKDOWN_PIECES, max_size=14).map("".join) | st.text(max_size=40))
@example("blue_green_service (8m 30s) 33.33")
@example("a_ *b*")
@example("x\n\t- y")
def test_escaped_text_renders_as_the_plain_text(text: str) -> None:
    """Held to a CommonMark parser: the escaped text shows as exactly the plain text, with no formatting."""
    plain = clean(text)
    assert_plain_markdown(escape_markdown(plain), plain)


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html,x", "mailto:a@b.example", "https:no-host", "https://a.example/x\ny"],
)
def test_non_web_links_are_dropped(url: str) -> None:
    card = render_valid(Message(title="t", links=(Link("bad", url), Link("ok", "https://ok.example/"))))
    assert [action["url"] for action in elements(card, "Action.OpenUrl")] == ["https://ok.example/"]


def test_many_links_go_into_rows_of_six_in_reading_order() -> None:
    links = tuple(Link(f"link {index}", f"https://example.com/{index}") for index in range(200))
    card = render_valid(Message(title="t", links=links))
    rows = elements(card["body"], "ActionSet")
    assert "actions" not in card
    assert rows and all(len(row["actions"]) <= 6 for row in rows)
    titles = [action["title"] for row in rows for action in row["actions"]]
    assert titles == [f"link {index}" for index in range(len(titles))]
    assert len(titles) <= 20


def test_a_row_of_actions_holds_what_a_phone_shows_without_cutting_a_title() -> None:
    """A 360 px card leaves about 330 px: four buttons of these titles would cut them ("Open in Br…")."""
    titles = ["Open in Bridge", "Run trace", "CI run", "Dashboard", "x" * 80]
    card = render_valid(Message(title="t", links=tuple(Link(title, f"https://a.example/{title}") for title in titles)))
    rows = [[action["title"] for action in row["actions"]] for row in elements(card["body"], "ActionSet")]
    assert rows == [["Open in Bridge", "Run trace", "CI run"], ["Dashboard"], ["x" * 36 + "…"]]
    bridge = (Link("Open in Bridge", "https://a.example/"), Link("Run trace", "https://b.example/"))
    two = render_valid(Message(title="t", links=bridge))
    assert [action["title"] for action in two["actions"]] == ["Open in Bridge", "Run trace"]


def test_51_facts_validate_and_keep_the_first_50() -> None:
    facts = tuple(Fact(f"name {index}", f"value {index}") for index in range(51))
    fact_set = elements(render_valid(Message(title="t", facts=facts)), "FactSet")[0]["facts"]
    assert len(fact_set) == 50
    assert fact_set[-1] == {"title": "name 49", "value": "value 49"}


def test_10000_character_text_fits_whole() -> None:
    text = "y" * 10_000
    runs = elements(render_valid(Message(title="t", text=text)), "TextRun")
    assert [run["text"] for run in runs] == [text]


def test_text_over_28000_bytes_is_cut_with_an_ellipsis() -> None:
    envelope = render_teams(Message(title="t", text="ü" * 20_000))
    assert_valid_teams_envelope(envelope)
    run = elements(card_of(envelope), "TextRun")[0]["text"]
    assert run.endswith("ü…")
    assert 20_000 // 6 < len(run) < 20_000
    # Close to the limit: the search for the longest text that fits did its job.
    assert json_size(envelope) > 27_000


def test_300_character_title_and_huge_footer_validate() -> None:
    card = render_valid(Message(title="T" * 300, footer="f" * 100_000))
    assert card["body"][0]["items"][0]["text"] == "T" * 300
    assert card["body"][-1]["text"].endswith("f…")


def test_everything_at_the_limit_at_once_still_fits() -> None:
    # Every character but the emoji gets a backslash: the most escaping text there is.
    worst = "😀\\](" * 4000
    message = Message(
        title=worst,
        summary=worst,
        text=(worst + "\n") * 3,
        facts=tuple(Fact(worst, worst) for _ in range(60)),
        links=tuple(Link(worst, f"https://example.com/{'😀' * 1000}/{index}") for index in range(200)),
        footer=worst,
    )
    envelope = render_teams(message)
    assert_valid_teams_envelope(envelope)
    assert len(json.dumps(envelope).encode()) <= 28_000
    assert card_of(envelope)["body"][0]["items"][0]["text"].startswith("😀\\\\\\](")
