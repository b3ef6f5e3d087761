"""Message -> Teams Workflows envelope holding one Adaptive Card 1.5, at most 28,000 bytes serialized.

Teams treats TextBlock and FactSet text as markdown. The body text, the longest and most event-driven part,
goes into RichTextBlocks of TextRuns instead: a TextRun is never parsed as markdown, so no escape set can be
incomplete and no client that ignores backslash escapes shows stray backslashes. The title, the facts and
the footer must be a TextBlock and a FactSet to look right, so their text goes through `escape_markdown`,
which backslash-escapes only what markdown would act on: Teams clients have shown `33\\.33` and
`blue\\_green` with their backslashes, so a character that cannot start a link, emphasis, code, a mention,
a heading or a list keeps its plain form.
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
# Teams shows six actions per action bar at most; more links go into further rows (ActionSets).
MAX_ACTIONS_PER_ROW = 6
# A row also holds no more than a phone shows whole: a card 360 px wide leaves about 330 px for its buttons, and
# a button takes 28 px of padding, border and spacing plus its title at about 8 px a character (Segoe UI at
# 14 px semibold averages 7.5). Buttons that would share the row beyond that are cut ("Open run in K…").
ROW_WIDTH = 330
BUTTON_WIDTH = 28
CHARACTER_WIDTH = 8
# The longest title a button on its own row shows whole.
MAX_ACTION_TITLE = (ROW_WIDTH - BUTTON_WIDTH) // CHARACTER_WIDTH
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

# Characters markdown acts on wherever they are: a backslash before punctuation or a line end (an escape, a
# hard line break), the emphasis, strikethrough and code marks (decided in `_escaped`), `<` opening a tag, an
# autolink or an `<at>` mention, `&` opening an entity, and `]` closing a link text or a reference label.
_INLINE = re.compile(r"\\(?=[!-/:-@\[-`{-~\n])|[*_~`]|<(?=[A-Za-z/!?])|&(?=#?[A-Za-z0-9]+;)|\](?=[(:])")
# Marks that only act in pairs: a text with one of them shows it as it is.
_PAIRED = frozenset("*_~`")
# What a mark must have on both sides to be inert: whitespace, or the start or end of a line or of the text.
_BLANK = frozenset(" \t\n")
# What acts only at the start of a line (after any indentation): a bullet or numbered list item, an ATX heading,
# a block quote, and a line of only `-=*_` (a setext heading's underline or a thematic break).
_LINE_START = re.compile(
    r"^([ \t]*)(?:[-+*](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$)|#{1,6}(?=[ \t]|$)|>|[-=*_](?=[-=*_ \t]*$))",
    re.MULTILINE,
)
# Four columns of indentation start a code block (shown in monospace, escapes and all); markdown drops a line's
# indentation anyway, so it goes.
_CODE_INDENT = re.compile(r"^(?:[ ]{0,3}\t|[ ]{4})[ \t]*", re.MULTILINE)
# What a line start that `_LINE_START` could match begins with, besides a digit (\d: any Unicode decimal digit).
_MARKER_STARTS = frozenset(" \t-+*#>=_")
_AT_TAG = re.compile(r"<(/?at\b)", re.IGNORECASE)


def escape_markdown(text: str) -> str:
    """Backslash-escape what Adaptive Card markdown would read as a link, emphasis, code, mention, heading or list.

    Nothing else: `33.33`, `blue_green_service` and `(8m 30s)` stay as they are (tests/render/test_teams.py
    holds the result to a CommonMark parser: the escaped text renders as exactly the plain text).
    """
    if _INLINE.search(text):
        # A function, not an r"\\\1" template: re runs Python code to compile a template on every call.
        paired = frozenset(mark for mark in _PAIRED if text.count(mark) > 1)
        text = _INLINE.sub(lambda match: _escaped(match, paired), text)
    # The line-start marks count only at the start of a line: a one-line text that starts otherwise has none.
    if "\n" in text or text[:1] in _MARKER_STARTS or text[:1].isdecimal():
        text = _LINE_START.sub(_escaped_line_start, _CODE_INDENT.sub("", text))
    return text


def _escaped(match: re.Match[str], paired: frozenset[str]) -> str:
    """`paired`: the marks the text holds more than one of (counted once, not for every match)."""
    mark = match[0]
    if mark in _PAIRED:
        if mark not in paired:
            return mark
        text, at = match.string, match.start()
        before = text[at - 1] if at else " "
        after = text[at + 1] if at + 1 < len(text) else " "
        # A code span may be padded with spaces; emphasis and strikethrough marks between blanks are inert, and
        # so is an underscore inside a word (`blue_green`).
        if mark != "`" and before in _BLANK and after in _BLANK:
            return mark
        if mark == "_" and before.isalnum() and after.isalnum():
            return mark
    return "\\" + mark


def _escaped_line_start(match: re.Match[str]) -> str:
    indent, marker = match[1], match[0][len(match[1]) :]
    # A numbered item's number stays: the `.` or `)` after it makes it one.
    if marker[:1].isdecimal():
        return f"{indent}{marker[:-1]}\\{marker[-1]}"
    return f"{indent}\\{marker}"


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


def render_teams_card(message: Message, mentions: Mentions = NO_MENTIONS) -> dict[str, Any]:
    """The bare Adaptive Card, for a flow built on "Post card in a chat or channel" that posts the card it gets."""
    card: dict[str, Any] = render_teams(message, mentions)["attachments"][0]["content"]
    return card


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
    rows = _rows(links)
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
    title_limit = min(budget.link_title, MAX_ACTION_TITLE)
    return [
        {
            "type": "Action.OpenUrl",
            # Action titles are plain text (no markdown), so they need no escaping.
            "title": plain(truncate(one_line(title) or url, title_limit)),
            "url": url,
        }
        for title, url in usable[: budget.links]
    ]


def _rows(actions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The actions in reading order, in rows that a phone-width card shows without cutting a title."""
    rows: list[list[dict[str, Any]]] = []
    width = ROW_WIDTH
    for action in actions:
        needed = BUTTON_WIDTH + CHARACTER_WIDTH * len(action["title"])
        if not rows or width + needed > ROW_WIDTH or len(rows[-1]) == MAX_ACTIONS_PER_ROW:
            rows.append([])
            width = 0
        rows[-1].append(action)
        width += needed
    return rows


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
