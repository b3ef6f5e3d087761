"""Message -> readable multi-line text for the console and logs.

Control characters are removed so an event cannot move the cursor, clear the screen or forge log lines
with terminal escape sequences; every line of the text is indented so it cannot pose as a new message.
The route's mentions (from the config, never from the event) are listed under the title, as each platform
would get them.
"""

from __future__ import annotations

from types import MappingProxyType

from notifier.message import Message, Severity
from notifier.render.mentions import NO_MENTIONS, Mentions
from notifier.render.plaintext import clean, one_line, web_url

SEVERITY_LABEL = MappingProxyType(
    {
        Severity.SUCCESS: "SUCCESS",
        Severity.INFO: "INFO",
        Severity.WARNING: "WARNING",
        Severity.FAILURE: "FAILURE",
    }
)
INDENT = "  "


def render_text(message: Message, mentions: Mentions = NO_MENTIONS) -> str:
    title = one_line(message.title) or one_line(message.summary)
    lines = [f"[{SEVERITY_LABEL[message.severity]}] {title}".rstrip()]
    if mentions:
        lines.append(f"{INDENT}mentions: {mentions.describe()}")
    body = clean(message.text).strip("\n")
    if body.strip():
        lines.extend(f"{INDENT}{line}".rstrip() for line in body.split("\n"))
    for fact in message.facts:
        name, value = one_line(fact.name), " ".join(clean(fact.value).split())
        if name or value:
            lines.append(f"{INDENT}{name}: {value}".rstrip())
    for link in message.links:
        url = web_url(link.url)
        if url:
            label = one_line(link.title)
            lines.append(f"{INDENT}link: {label} <{url}>" if label else f"{INDENT}link: {url}")
    footer = one_line(message.footer)
    if footer:
        lines.append(f"{INDENT}-- {footer}")
    return "\n".join(lines) + "\n"
