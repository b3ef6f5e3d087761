"""Message -> Slack Block Kit payload, within every Block Kit limit.

`{"text": fallback, "blocks": [header], "attachments": [{"color": severity's colour, "blocks": [the rest]}]}`:
the header (and the route's mentions) stay at the top, where the top-level `text` is only the notification
text; the body sits in a legacy attachment whose `color` Slack draws as a bar beside it, so the severity shows
at a glance as the Teams card's coloured title does. The limits count the blocks of both.

Every string from the message is escaped (`&`, `<`, `>`), plain_text ones included, so nothing an event
carries can become a mention (`<!channel>`, `<@U123>`) or a disguised link (`<https://evil|click>`). mrkdwn
text objects set `verbatim` so Slack does not auto-parse bare `@here` or `#channel` words either; links
reach the reader only as buttons, whose URLs must be http(s). `link_names` and `parse` are never set.
The one exception is the route's mentions (notifier/mentions.py), written by the operator and validated at
start-up: they go, as written, into a section under the header and the top-level `text`, so that they ping.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

from notifier.message import Fact, Link, Message, Severity
from notifier.render.budget import Budget, fit, within_bound
from notifier.render.mentions import NO_MENTIONS, Mentions
from notifier.render.plaintext import clean, one_line, truncate, utf16_length, web_url

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER = 150
MAX_BUTTONS = 25
MAX_BUTTON_TEXT = 75
MAX_URL = 3000
MAX_CONTEXT_TEXT = 3000
# Slack truncates `text` past 40,000 characters; it is the notification preview, so keep it short.
MAX_FALLBACK = 300
# Characters of the serialized `blocks` (UTF-16 units): Slack advises keeping a message well under 12,000.
MAX_BLOCKS_CHARS = 12_000

# Slack's own green, blue, yellow and red.
SEVERITY_COLOUR = MappingProxyType(
    {
        Severity.SUCCESS: "#2eb67d",
        Severity.INFO: "#1d9bd1",
        Severity.WARNING: "#ecb22e",
        Severity.FAILURE: "#e01e5a",
    }
)
SEVERITY_EMOJI = MappingProxyType(
    {
        Severity.SUCCESS: ":white_check_mark:",
        Severity.INFO: ":information_source:",
        Severity.WARNING: ":warning:",
        Severity.FAILURE: ":x:",
    }
)


def escape(text: str) -> str:
    """Slack's three control characters as entities; nothing else needs escaping in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks_size(payload: dict[str, Any]) -> int:
    """The serialized blocks, the attachment's included (what Slack's size advice counts)."""
    return utf16_length(json.dumps([payload["blocks"], payload.get("attachments", [])], ensure_ascii=False))


def render_slack(message: Message, mentions: Mentions = NO_MENTIONS) -> dict[str, Any]:
    text = clean(message.text)
    return fit(
        lambda budget: _payload(message, text, budget, mentions),
        within_bound(blocks_size, MAX_BLOCKS_CHARS),
        MAX_BLOCKS_CHARS,
        len(text),
    )


def _payload(message: Message, text: str, budget: Budget, mentions: Mentions) -> dict[str, Any]:
    """The payload for `message` within `budget`; `text` is the message's text, cleaned."""
    header = _header(message, budget)
    ping = [_mrkdwn_section(mentions.slack_markup)] if mentions.slack else []
    sections = [_mrkdwn_section(chunk) for chunk in _chunks(truncate(text, budget.text))]
    fact_sections = _fact_sections(message.facts[: budget.facts], budget)
    actions = _actions(message.links, budget)
    context = _context(message.footer, budget)
    sections = sections[: MAX_BLOCKS - 1 - len(ping) - len(fact_sections) - len(actions) - len(context)]
    body = [*sections, *fact_sections, *actions, *context]
    fallback = _fallback(message)
    payload: dict[str, Any] = {
        "text": f"{mentions.slack_markup} {fallback}" if mentions.slack else fallback,
        "blocks": [header, *ping],
    }
    if body:
        payload["attachments"] = [{"color": SEVERITY_COLOUR[message.severity], "blocks": body}]
    return payload


def _fallback(message: Message) -> str:
    text = one_line(message.fallback_text) or _title_text(message)
    return truncate(text, MAX_FALLBACK, escape, utf16_length)


def _title_text(message: Message) -> str:
    """The title, else the summary, else the severity: a message always has a header."""
    return one_line(message.title) or one_line(message.summary) or message.severity.value.capitalize()


def _starts_with_emoji(text: str) -> bool:
    """A `:shortcode:`, a pictograph, or a character the emoji selector U+FE0F follows (U+2139 is a letter)."""
    if text.startswith(":") and text.find(":", 2) > 1 and " " not in text[: text.find(":", 2)]:
        return True
    return bool(text) and (unicodedata.category(text[0]) == "So" or text[1:2] == "\ufe0f")


def _header(message: Message, budget: Budget) -> dict[str, Any]:
    title = _title_text(message)
    prefix = "" if _starts_with_emoji(title) else SEVERITY_EMOJI[message.severity] + " "
    title = truncate(title, budget.title)
    text = prefix + truncate(title, MAX_HEADER - utf16_length(prefix), escape, utf16_length)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _chunks(text: str) -> Iterator[str]:
    """Escaped pieces of at most MAX_SECTION_TEXT, split at line ends where a line allows it."""
    escaped = escape(text)
    if utf16_length(escaped) <= MAX_SECTION_TEXT:  # the usual case: one piece, as the loop below would make it
        yield from _non_blank(escaped)
        return
    lines: list[str] = []
    length = -1  # of the escaped lines joined by newlines
    for line in text.split("\n"):
        escaped = escape(line)
        if length + 1 + utf16_length(escaped) <= MAX_SECTION_TEXT:
            lines.append(escaped)
            length += 1 + utf16_length(escaped)
            continue
        yield from _non_blank("\n".join(lines))
        while utf16_length(escape(line)) > MAX_SECTION_TEXT:
            head = _longest_prefix(line, MAX_SECTION_TEXT)
            yield from _non_blank(escape(head))
            line = line[len(head) :]
        lines, length = [escape(line)], utf16_length(escape(line))
    yield from _non_blank("\n".join(lines))


def _non_blank(text: str) -> Iterator[str]:
    """Slack rejects empty and blank texts: yield the text without its surrounding newlines, if any is left."""
    if text.strip():
        yield text.strip("\n")


def _longest_prefix(text: str, limit: int) -> str:
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if utf16_length(escape(text[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    return text[: max(low, 1)]


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _fact_sections(facts: tuple[Fact, ...], budget: Budget) -> list[dict[str, Any]]:
    fields = [field for field in (_field(fact, budget) for fact in facts) if field]
    return [
        {"type": "section", "fields": [_mrkdwn(text) for text in fields[start : start + MAX_FIELDS]]}
        for start in range(0, len(fields), MAX_FIELDS)
    ]


def _field(fact: Fact, budget: Budget) -> str:
    """`*Name*` over the value, or whichever of the two is not blank; "" when both are."""
    name = escape(truncate(one_line(fact.name), budget.fact_name))
    heading = f"*{name}*\n" if name else ""
    value = truncate(clean(fact.value).strip(), budget.fact_value)
    room = MAX_FIELD_TEXT - utf16_length(heading)
    return (heading + truncate(value, room, escape, utf16_length)).strip("\n")


def _actions(links: tuple[Link, ...], budget: Budget) -> list[dict[str, Any]]:
    usable = [(link.title, url) for link in links if (url := web_url(link.url)) and utf16_length(url) <= MAX_URL]
    buttons = [
        _button(index, title, url, budget)
        for index, (title, url) in enumerate(usable[: min(budget.links, MAX_BUTTONS)])
    ]
    return [{"type": "actions", "elements": buttons}] if buttons else []


def _button(index: int, title: str, url: str, budget: Budget) -> dict[str, Any]:
    title = truncate(one_line(title) or url, budget.link_title)
    text = truncate(title, MAX_BUTTON_TEXT, escape, utf16_length)
    return {
        "type": "button",
        "action_id": f"link-{index}",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "url": url,
    }


def _context(footer: str, budget: Budget) -> list[dict[str, Any]]:
    text = clean(footer).strip()
    if not text:
        return []
    text = truncate(truncate(text, budget.footer), MAX_CONTEXT_TEXT, escape, utf16_length)
    return [{"type": "context", "elements": [_mrkdwn(text)]}]
