"""Message -> Teams Workflows envelope holding one Adaptive Card 1.5, at most 28,000 bytes serialized.

Teams treats TextBlock and FactSet text as markdown. The body text, the longest and most event-driven part,
goes into RichTextBlocks of TextRuns instead: a TextRun is never parsed as markdown, so no escape set can be
incomplete and no client that ignores backslash escapes shows stray backslashes. The title, the facts and
the footer must be a TextBlock and a FactSet to look right, so their text is backslash-escaped with
`escape_markdown`, which also breaks `](` link syntax, `<at>` mentions and list or heading markers.
The route's mentions (notifier/mentions.py, from the operator's config) are the one exception: a TextBlock
of `<at>name</at>` under the title and the matching `msteams.entities`. Teams places an entity wherever its
`<at>name</at>` appears in the card, so in a card with entities an `<at>` in a TextRun or an action title
(plain text) gets a word joiner that breaks the tag and shows nothing: only the mention block can hold one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from notifier.message import Fact, Link, Message, Severity
from notifier.render.budget import Budget, fit, serialized_size, within_bound
from notifier.render.mentions import NO_MENTIONS, Mentions
from notifier.render.plaintext import clean, identity, one_line, truncate, web_url

MAX_ENVELOPE_BYTES = 28_000
CARD_VERSION = "1.5"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
# Teams shows six actions per action bar; more links go into further rows (ActionSets) of six.
MAX_ACTIONS_PER_ROW = 6
# Longer URLs break in some browsers and proxies (IE stopped at 2,083); such links are dropped.
MAX_URL = 2048
MAX_FALLBACK = 300

SEVERITY_STYLE = MappingProxyType(
    {
        Severity.SUCCESS: "good",
        Severity.INFO: "accent",
        Severity.WARNING: "warning",
        Severity.FAILURE: "attention",
    }
)

_MARKDOWN_CHARACTERS = re.compile(r"([\\`*_\[\]()<>#~&|!])")
# Block markers that only count at the start of a line: list items, setext headings, ordered lists.
_LINE_START_MARKER = re.compile(r"^([ \t]*)([-+=])", re.MULTILINE)
_ORDERED_LIST_MARKER = re.compile(r"^([ \t]*\d+)\.", re.MULTILINE)
# What those two can start with, besides a digit (\d: any Unicode decimal digit, as str.isdecimal).
_MARKER_STARTS = frozenset(" \t-+=")
_AT_TAG = re.compile(r"<(/?at\b)", re.IGNORECASE)


def escape_markdown(text: str) -> str:
    """Backslash-escape what Adaptive Card markdown could read as formatting, links, mentions or lists."""
    # Functions, not r"\\\1" templates: re runs Python code to compile a template on every call.
    text = _MARKDOWN_CHARACTERS.sub(_escaped_character, text)
    # The markers count only at the start of a line: a one-line text that starts otherwise has none.
    if "\n" in text or text[:1] in _MARKER_STARTS or text[:1].isdecimal():
        text = _LINE_START_MARKER.sub(_escaped_marker, text)
        text = _ORDERED_LIST_MARKER.sub(_escaped_list_number, text)
    return text


def _escaped_character(match: re.Match[str]) -> str:
    return "\\" + match[1]


def _escaped_marker(match: re.Match[str]) -> str:
    return f"{match[1]}\\{match[2]}"


def _escaped_list_number(match: re.Match[str]) -> str:
    return f"{match[1]}\\."


def no_mention(text: str) -> str:
    """Plain text (TextRun, action title) whose `<at>` tags Teams cannot read: a word joiner after the `<`."""
    return _AT_TAG.sub("<\u2060\\1", text)


def render_teams(message: Message, mentions: Mentions = NO_MENTIONS) -> dict[str, Any]:
    text = clean(message.text)
    return fit(
        lambda budget: envelope(_card(message, text, budget, mentions)),
        within_bound(serialized_size, MAX_ENVELOPE_BYTES),
        MAX_ENVELOPE_BYTES,
        len(text),
    )


def envelope(card: dict[str, Any]) -> dict[str, Any]:
    """The Workflows "post a card" envelope: one attachment per card, so the flow posts exactly one card."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def _card(message: Message, text: str, budget: Budget, mentions: Mentions) -> dict[str, Any]:
    """The card for `message` within `budget`; `text` is the message's text, cleaned."""
    plain = no_mention if mentions.teams else identity
    links = _links(message.links, budget, plain)
    rows = [links[start : start + MAX_ACTIONS_PER_ROW] for start in range(0, len(links), MAX_ACTIONS_PER_ROW)]
    body = [
        _title(message, budget),
        *([{"type": "TextBlock", "text": mentions.teams_markup, "wrap": True}] if mentions.teams else []),
        *_paragraphs(truncate(text, budget.text), plain),
        *_fact_set(message.facts[: budget.facts], budget),
    ]
    if len(rows) > 1:
        # Several rows keep the reading order when the links do not fit one action bar.
        body.extend({"type": "ActionSet", "actions": row} for row in rows)
    body.extend(_footer(message.footer, budget))
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "fallbackText": escape_markdown(truncate(_title_text(message), MAX_FALLBACK)),
        "body": body,
    }
    if len(rows) == 1:
        card["actions"] = rows[0]
    card["msteams"] = {"width": "Full"}
    if mentions.teams:
        card["msteams"]["entities"] = mentions.teams_entities()
    return card


def _title_text(message: Message) -> str:
    return one_line(message.title) or one_line(message.summary) or message.severity.value.capitalize()


def _title(message: Message, budget: Budget) -> dict[str, Any]:
    text = escape_markdown(truncate(_title_text(message), budget.title))
    return {
        "type": "Container",
        "style": SEVERITY_STYLE[message.severity],
        "bleed": True,
        "items": [{"type": "TextBlock", "text": text, "size": "Medium", "weight": "Bolder", "wrap": True}],
    }


def _paragraphs(text: str, plain: Callable[[str], str]) -> list[dict[str, Any]]:
    """One RichTextBlock per line (a TextRun does not reliably break lines); blank lines add spacing."""
    blocks: list[dict[str, Any]] = []
    after_blank = True
    for line in text.split("\n"):
        if not line.strip():
            after_blank = True
            continue
        block: dict[str, Any] = {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": plain(line)}]}
        if not after_blank:
            block["spacing"] = "None"
        blocks.append(block)
        after_blank = False
    return blocks


def _fact_set(facts: tuple[Fact, ...], budget: Budget) -> list[dict[str, Any]]:
    rows = []
    for fact in facts:
        name = one_line(fact.name)
        value = clean(fact.value).strip()
        if name or value:
            rows.append(
                {
                    "title": escape_markdown(truncate(name, budget.fact_name)),
                    "value": escape_markdown(truncate(value, budget.fact_value)),
                }
            )
    return [{"type": "FactSet", "facts": rows}] if rows else []


def _links(links: tuple[Link, ...], budget: Budget, plain: Callable[[str], str]) -> list[dict[str, Any]]:
    usable = [(link.title, url) for link in links if (url := web_url(link.url)) and len(url) <= MAX_URL]
    return [
        {
            "type": "Action.OpenUrl",
            # Action titles are plain text (no markdown), so they need no escaping.
            "title": plain(truncate(one_line(title) or url, budget.link_title)),
            "url": url,
        }
        for title, url in usable[: budget.links]
    ]


def _footer(footer: str, budget: Budget) -> list[dict[str, Any]]:
    text = clean(footer).strip()
    if not text:
        return []
    return [
        {
            "type": "TextBlock",
            "text": escape_markdown(truncate(text, budget.footer)),
            "size": "Small",
            "isSubtle": True,
            "wrap": True,
            "separator": True,
        }
    ]
