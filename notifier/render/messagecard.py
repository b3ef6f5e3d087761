"""Message -> legacy Office 365 connector MessageCard (opt-in: Microsoft switched those webhooks off).

Built as a plain dict, not with pymsteams: pymsteams only fills a dict through setters bound to a webhook
URL and a sender, adds nothing to the format, and would make an unmaintained package a dependency of
rendering. MessageCard text, titles and facts are markdown, so every one is escaped like Teams text.
A MessageCard cannot mention anyone: a route's Teams mentions show as names, and notify nobody.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from notifier.message import Message, Severity
from notifier.render.budget import Budget, fit, serialized_size, within_bound
from notifier.render.mentions import NO_MENTIONS, Mentions
from notifier.render.plaintext import clean, one_line, truncate, web_url
from notifier.render.teams import escape_markdown

MAX_CARD_BYTES = 28_000
# The connector shows at most four actions.
MAX_ACTIONS = 4
MAX_URL = 2048
MAX_SUMMARY = 300
CONTEXT = "https://schema.org/extensions"

SEVERITY_COLOR = MappingProxyType(
    {
        Severity.SUCCESS: "2EB886",
        Severity.INFO: "439FE0",
        Severity.WARNING: "DAA038",
        Severity.FAILURE: "A30200",
    }
)


def render_messagecard(message: Message, mentions: Mentions = NO_MENTIONS) -> dict[str, Any]:
    cleaned = clean(message.text)
    return fit(
        lambda budget: _card(message, cleaned, budget, mentions),
        within_bound(serialized_size, MAX_CARD_BYTES),
        MAX_CARD_BYTES,
        len(cleaned),
    )


def _card(message: Message, cleaned: str, budget: Budget, mentions: Mentions) -> dict[str, Any]:
    """The card for `message` within `budget`; `cleaned` is the message's text, cleaned."""
    title = one_line(message.title) or one_line(message.summary) or message.severity.value.capitalize()
    section: dict[str, Any] = {}
    text = truncate(cleaned.strip(), budget.text)
    if text:
        # Markdown needs a blank line (or two trailing spaces) for a line break; keep the author's lines.
        section["text"] = escape_markdown(text).replace("\n", "  \n")
    facts = [
        {
            "name": escape_markdown(truncate(one_line(fact.name), budget.fact_name)),
            "value": escape_markdown(truncate(clean(fact.value).strip(), budget.fact_value)),
        }
        for fact in message.facts[: budget.facts]
        if one_line(fact.name) or clean(fact.value).strip()
    ]
    if facts:
        section["facts"] = facts
    footer = truncate(clean(message.footer).strip(), budget.footer)
    sections = [section] if section else []
    if mentions.teams:
        sections.insert(0, {"text": escape_markdown(", ".join(f"@{mention.name}" for mention in mentions.teams))})
    if footer:
        sections.append({"text": escape_markdown(footer).replace("\n", "  \n")})
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": CONTEXT,
        "themeColor": SEVERITY_COLOR[message.severity],
        "summary": truncate(one_line(message.fallback_text) or title, MAX_SUMMARY),
        "title": escape_markdown(truncate(title, budget.title)),
    }
    if sections:
        card["sections"] = sections
    usable = [(link.title, url) for link in message.links if (url := web_url(link.url)) and len(url) <= MAX_URL]
    actions = [
        {
            "@type": "OpenUri",
            "name": truncate(one_line(title) or url, budget.link_title),
            "targets": [{"os": "default", "uri": url}],
        }
        for title, url in usable[: min(budget.links, MAX_ACTIONS)]
    ]
    if actions:
        card["potentialAction"] = actions
    return card
