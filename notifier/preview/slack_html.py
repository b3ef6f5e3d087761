"""A Slack payload (`{"text", "blocks", "attachments"}`) as HTML that looks like the message in Slack.

For `keptn-notifier preview`: it draws the payload the Slack renderer produced, not the message behind it,
so what is seen is what would be posted. Block Kit's header, section (text, fields, a button accessory),
context, actions (buttons), divider and image blocks are drawn, and attachments with their colour bar;
mrkdwn gets Slack's `*bold*`, `_italic_`, `~strike~`, `` `code` `` and ``` ```blocks``` ```, its `&amp;`
`&lt;` `&gt;` entities decoded and its `<url|label>`, `<@user>` and `<!here>` sequences shown as links and
mentions. Images are not loaded (the page stays offline): their alt text stands in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from notifier.preview.html import attribute, choice, items, link, mapping, text, unsupported

# The shortcodes the renderers and shipped templates use, and a few common ones; others stay as typed.
EMOJI = MappingProxyType(
    {
        "white_check_mark": "✅",
        "heavy_check_mark": "✔️",
        "x": "❌",
        "warning": "⚠️",
        "information_source": "\u2139\ufe0f",
        "rotating_light": "🚨",
        "no_entry": "⛔",
        "hourglass": "⌛",
        "hourglass_flowing_sand": "⏳",
        "rocket": "🚀",
        "tada": "🎉",
        "fire": "🔥",
        "bell": "🔔",
        "mag": "🔍",
        "red_circle": "🔴",
        "large_green_circle": "🟢",
        "large_yellow_circle": "🟡",
        "arrows_counterclockwise": "🔄",
    }
)
# Slack's named attachment colours; any other colour must be a hex triple or sextuple.
NAMED_COLOURS = MappingProxyType({"good": "#2eb67d", "warning": "#ecb22e", "danger": "#e01e5a"})
DEFAULT_COLOUR = "#dddddd"
BUTTON_STYLES = MappingProxyType({"primary": "sk-button primary", "danger": "sk-button danger"})

_HEX_COLOUR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_SHORTCODE = re.compile(r":([a-z0-9_+-]+):")
_PRE = re.compile(r"```(.*?)```", re.DOTALL)
_CONTROL = re.compile(r"<([^<>\n]*)>")
# Slack's inline marks: the opening mark after a non-word character, the closing one before one.
_INLINE = re.compile(
    r"`(?P<code>[^`\n]+)`"
    r"|(?<![\w*])\*(?P<bold>[^*\n\s](?:[^*\n]*[^*\n\s])?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>[^_\n\s](?:[^_\n]*[^_\n\s])?)_(?![\w_])"
    r"|(?<![\w~])~(?P<strike>[^~\n\s](?:[^~\n]*[^~\n\s])?)~(?![\w~])"
)
_MARK_TAGS = MappingProxyType({"bold": "b", "italic": "i", "strike": "s"})


def slack_html(payload: Mapping[str, Any]) -> str:
    """The message as Slack draws it: the blocks, then each attachment beside its colour bar."""
    parts = [_blocks(items(payload.get("blocks")))]
    for attachment in items(payload.get("attachments")):
        parts.append(_attachment(mapping(attachment)))
    if not payload.get("blocks") and not payload.get("attachments"):
        parts.append(f'<div class="sk-text">{mrkdwn(str(payload.get("text", "")))}</div>')
    return "".join(parts)


def notification_text(payload: Mapping[str, Any]) -> str:
    """The `text` Slack shows in notifications and previews, as plain HTML text."""
    return _plain(str(payload.get("text", "")), emoji=True)


def mrkdwn(source: str) -> str:
    """Slack mrkdwn as HTML; every character that came in leaves as text, never as markup."""
    out: list[str] = []
    position = 0
    for match in _PRE.finditer(source):
        out.append(_spans(source[position : match.start()]))
        out.append(f'<pre class="sk-pre">{text(_unescape(match.group(1).strip(chr(10))))}</pre>')
        position = match.end()
    out.append(_spans(source[position:]))
    return "".join(out)


def _spans(source: str) -> str:
    """Control sequences (`<...>`) and the text around them."""
    out: list[str] = []
    position = 0
    for match in _CONTROL.finditer(source):
        out.append(_inline(_unescape(source[position : match.start()])))
        out.append(_control(match.group(1)))
        position = match.end()
    out.append(_inline(_unescape(source[position:])))
    return "".join(out)


def _control(body: str) -> str:
    target, _, label = body.partition("|")
    if target.startswith("@"):
        return f'<span class="sk-mention">@{text(_unescape(label or target[1:]))}</span>'
    if target.startswith("#"):
        return f'<span class="sk-mention">#{text(_unescape(label or target[1:]))}</span>'
    if target.startswith("!"):
        # <!here>, <!channel>; a user group, <!subteam^S…>, by its ID: only Slack knows its handle.
        name = label or target[1:].rpartition("^")[2]
        return f'<span class="sk-mention">@{text(_unescape(name).lstrip("@"))}</span>'
    url = _unescape(target)
    return link(url, text(_unescape(label) or url), "sk-link")


def _inline(source: str) -> str:
    out: list[str] = []
    position = 0
    for match in _INLINE.finditer(source):
        out.append(_emoji_text(source[position : match.start()]))
        kind = match.lastgroup or "code"
        inner = match.group(kind)
        if kind == "code":
            out.append(f'<code class="sk-code">{text(inner)}</code>')
        else:
            tag = _MARK_TAGS[kind]
            out.append(f"<{tag}>{_inline(inner)}</{tag}>")
        position = match.end()
    out.append(_emoji_text(source[position:]))
    return "".join(out)


def _emoji_text(source: str) -> str:
    return text(_SHORTCODE.sub(lambda match: EMOJI.get(match.group(1), match.group(0)), source))


def _unescape(source: str) -> str:
    """Slack's three entities; `&amp;` last, so `&amp;lt;` stays `&lt;` as Slack shows it."""
    return source.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(source: str, emoji: bool) -> str:
    return _emoji_text(_unescape(source)) if emoji else text(_unescape(source))


def _text_object(value: object) -> str:
    """A Block Kit text object (`plain_text` or `mrkdwn`) as HTML."""
    obj = mapping(value)
    body = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn(body)
    return _plain(body, emoji=obj.get("emoji", True) is not False)


def _blocks(blocks: list[Any]) -> str:
    return "".join(_block(mapping(block)) for block in blocks)


def _block(block: Mapping[str, Any]) -> str:
    draw = _BLOCKS.get(str(block.get("type")))
    return draw(block) if draw else unsupported(f"Slack block {block.get('type')!r}")


def _header(block: Mapping[str, Any]) -> str:
    return f'<div class="sk-header" data-role="slack-title">{_text_object(block.get("text"))}</div>'


def _section(block: Mapping[str, Any]) -> str:
    content = ""
    if block.get("text"):
        content += f'<div class="sk-text">{_text_object(block.get("text"))}</div>'
    fields = items(block.get("fields"))
    if fields:
        cells = "".join(f'<div class="sk-field">{_text_object(field)}</div>' for field in fields)
        content += f'<div class="sk-fields">{cells}</div>'
    accessory = mapping(block.get("accessory"))
    if accessory:
        side = _button(accessory) if accessory.get("type") == "button" else _element(accessory)
        return f'<div class="sk-section sk-with-accessory"><div>{content}</div>{side}</div>'
    return f'<div class="sk-section">{content}</div>'


def _context(block: Mapping[str, Any]) -> str:
    parts = "".join(f"<span>{_element(mapping(element))}</span>" for element in items(block.get("elements")))
    return f'<div class="sk-context">{parts}</div>'


def _actions(block: Mapping[str, Any]) -> str:
    buttons = "".join(
        _button(element) if element.get("type") == "button" else _element(element)
        for element in map(mapping, items(block.get("elements")))
    )
    return f'<div class="sk-actions">{buttons}</div>'


def _divider(block: Mapping[str, Any]) -> str:
    return '<hr class="sk-divider">'


def _image(block: Mapping[str, Any]) -> str:
    title = _text_object(block.get("title")) if block.get("title") else ""
    return f'<div class="sk-section">{title}{_image_placeholder(block)}</div>'


def _image_placeholder(element: Mapping[str, Any]) -> str:
    source = attribute(element.get("image_url", ""))
    return f'<span class="sk-image" title="{source}">[image: {text(element.get("alt_text", ""))}]</span>'


def _element(element: Mapping[str, Any]) -> str:
    kind = element.get("type")
    if kind in ("mrkdwn", "plain_text"):
        return _text_object(element)
    if kind == "image":
        return _image_placeholder(element)
    return unsupported(f"Slack element {kind!r}")


def _button(element: Mapping[str, Any]) -> str:
    css = choice(element.get("style"), BUTTON_STYLES, "sk-button")
    label = _text_object(element.get("text"))
    button = link(element.get("url"), label, css)
    return button if button != label else f'<span class="{css}">{label}</span>'


def _attachment(attachment: Mapping[str, Any]) -> str:
    colour = attachment_colour(attachment.get("color"))
    parts: list[str] = []
    if attachment.get("pretext"):
        parts.append(f'<div class="sk-text">{mrkdwn(str(attachment["pretext"]))}</div>')
    if attachment.get("title"):
        title = text(attachment["title"])
        parts.append(f'<div class="sk-att-title">{link(attachment.get("title_link"), title, "sk-link")}</div>')
    if attachment.get("text"):
        parts.append(f'<div class="sk-text">{mrkdwn(str(attachment["text"]))}</div>')
    fields = [mapping(field) for field in items(attachment.get("fields"))]
    if fields:
        cells = "".join(
            f'<div class="sk-field{"" if field.get("short") else " sk-wide"}"><b>{text(field.get("title", ""))}</b>'
            f"<br>{mrkdwn(str(field.get('value', '')))}</div>"
            for field in fields
        )
        parts.append(f'<div class="sk-fields">{cells}</div>')
    parts.append(_blocks(items(attachment.get("blocks"))))
    if attachment.get("footer"):
        parts.append(f'<div class="sk-context"><span>{mrkdwn(str(attachment["footer"]))}</span></div>')
    return f'<div class="sk-attachment" style="border-left-color: {colour}">{"".join(parts)}</div>'


def attachment_colour(value: object) -> str:
    """A CSS colour for the bar: Slack's names, a hex colour, else Slack's default grey; never raw input."""
    if not isinstance(value, str):
        return DEFAULT_COLOUR
    if value.lower() in NAMED_COLOURS:
        return NAMED_COLOURS[value.lower()]
    match = _HEX_COLOUR.match(value)
    return f"#{match.group(1).lower()}" if match else DEFAULT_COLOUR


_BLOCKS: Mapping[str, Callable[[Mapping[str, Any]], str]] = MappingProxyType(
    {
        "header": _header,
        "section": _section,
        "context": _context,
        "actions": _actions,
        "divider": _divider,
        "image": _image,
    }
)
