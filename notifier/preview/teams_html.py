"""A Teams Workflows envelope (or a bare Adaptive Card) as HTML that looks like the card in Teams.

For `keptn-notifier preview`: it draws the card the Teams renderer produced. Container (with its style
colour and bleed), ColumnSet/Column, TextBlock (size, weight, colour, subtle, wrap, separator, spacing),
RichTextBlock with TextRuns (never markdown, as in Teams), FactSet, ActionSet and the card's own actions
(Action.OpenUrl as a link; ShowCard and ToggleVisibility as inert buttons) and Image (its alt text: nothing
is loaded) are drawn. TextBlock and FactSet text get Teams' markdown subset: backslash escapes, `**bold**`,
`_italic_`, `[label](url)`, list markers and `<at>` mentions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from notifier.preview.html import choice, items, link, mapping, text, unsupported

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
CONTAINER_STYLES = MappingProxyType(
    {
        "emphasis": "ac-style-emphasis",
        "good": "ac-style-good",
        "attention": "ac-style-attention",
        "warning": "ac-style-warning",
        "accent": "ac-style-accent",
    }
)
SPACING = MappingProxyType(
    {name.lower(): f"ac-sp-{name.lower()}" for name in ("none", "small", "medium", "large", "extraLarge", "padding")}
)
SIZES = MappingProxyType(
    {name.lower(): f"ac-size-{name.lower()}" for name in ("small", "medium", "large", "extraLarge")}
)
WEIGHTS = MappingProxyType({"bolder": "ac-bolder", "lighter": "ac-lighter"})
COLOURS = MappingProxyType(
    {name: f"ac-colour-{name}" for name in ("dark", "light", "accent", "good", "warning", "attention")}
)
ALIGNMENTS = MappingProxyType({"center": "ac-align-center", "right": "ac-align-right"})
ACTION_STYLES = MappingProxyType({"positive": "ac-action positive", "destructive": "ac-action destructive"})

_PIXELS = re.compile(r"^(\d{1,4})px$")
_MARKDOWN = re.compile(
    r"\\(?P<escaped>[!-/:-@\[-`{-~])"
    r"|\*\*(?P<bold>(?:\\.|[^*\\])+?)\*\*"
    r"|(?<![\w\\])_(?P<italic>(?:\\.|[^_\\])+?)_(?!\w)"
    r"|\[(?P<label>(?:\\.|[^\]\\])*)\]\((?P<url>(?:[^()\s]|\([^()\s]*\))+)\)"
    r"|<at>(?P<mention>[^<]*)</at>"
)
_LIST_ITEM = re.compile(r"^[ \t]*[-*+] ")


def teams_html(payload: Mapping[str, Any]) -> str:
    """Each Adaptive Card in the envelope (a Workflows flow posts one card per attachment)."""
    if payload.get("type") == "AdaptiveCard":
        return card_html(payload)
    cards = [
        card_html(mapping(attachment.get("content")))
        if attachment.get("contentType") == ADAPTIVE_CARD
        else unsupported(f"Teams attachment {attachment.get('contentType')!r}")
        for attachment in map(mapping, items(payload.get("attachments")))
    ]
    return "".join(cards) or unsupported("a Teams message without an Adaptive Card")


def card_html(card: Mapping[str, Any]) -> str:
    width = "ac-card ac-full" if mapping(card.get("msteams")).get("width") == "Full" else "ac-card"
    actions = items(card.get("actions"))
    bar = f'<div class="ac-actions">{_actions(actions)}</div>' if actions else ""
    return f'<div class="{width}">{_elements(items(card.get("body")))}{bar}</div>'


def markdown(source: str) -> str:
    """Adaptive Card markdown as HTML, line by line; the text itself only ever leaves as text."""
    lines = []
    for line in source.split("\n"):
        bullet = _LIST_ITEM.match(line)
        lines.append("• " + _inline(line[bullet.end() :]) if bullet else _inline(line))
    return "\n".join(lines)


def _inline(source: str) -> str:
    out: list[str] = []
    position = 0
    for match in _MARKDOWN.finditer(source):
        out.append(text(source[position : match.start()]))
        kind = match.lastgroup
        if kind == "escaped":
            out.append(text(match.group("escaped")))
        elif kind == "bold":
            out.append(f"<b>{_inline(match.group('bold'))}</b>")
        elif kind == "italic":
            out.append(f"<i>{_inline(match.group('italic'))}</i>")
        elif kind == "mention":
            out.append(f'<span class="ac-mention">{text(match.group("mention"))}</span>')
        else:
            out.append(link(match.group("url"), _inline(match.group("label")), "ac-link"))
        position = match.end()
    out.append(text(source[position:]))
    return "".join(out)


def _elements(elements: list[Any]) -> str:
    return "".join(_element(mapping(element)) for element in elements)


def _element(element: Mapping[str, Any]) -> str:
    draw = _ELEMENTS.get(str(element.get("type")))
    if draw is None:
        return unsupported(f"Adaptive Card element {element.get('type')!r}")
    if element.get("isVisible") is False:
        return ""
    return draw(element, _layout(element))


def _layout(element: Mapping[str, Any]) -> str:
    """The classes every element takes: its spacing above, a separator line."""
    classes = [choice(element.get("spacing"), SPACING, "ac-sp-default")]
    if element.get("separator") is True:
        classes.append("ac-separator")
    return " ".join(classes)


def _text_classes(element: Mapping[str, Any]) -> list[str]:
    classes = [
        choice(element.get("size"), SIZES, ""),
        choice(element.get("weight"), WEIGHTS, ""),
        choice(element.get("color"), COLOURS, ""),
    ]
    if element.get("isSubtle") is True:
        classes.append("ac-subtle")
    return [name for name in classes if name]


def _text_block(element: Mapping[str, Any], layout: str) -> str:
    classes = [
        "ac-textblock",
        layout,
        *_text_classes(element),
        choice(element.get("horizontalAlignment"), ALIGNMENTS, ""),
    ]
    if element.get("wrap") is not True:
        classes.append("ac-nowrap")
    body = markdown(str(element.get("text", "")))
    return f'<div class="{" ".join(filter(None, classes))}">{body}</div>'


def _rich_text_block(element: Mapping[str, Any], layout: str) -> str:
    runs = []
    for inline in items(element.get("inlines")):
        if isinstance(inline, str):
            runs.append(text(inline))
            continue
        run = mapping(inline)
        if run.get("type") != "TextRun":
            runs.append(unsupported(f"inline {run.get('type')!r}"))
            continue
        classes = _text_classes(run)
        for flag, css in (("italic", "ac-italic"), ("strikethrough", "ac-strike"), ("underline", "ac-underline")):
            if run.get(flag) is True:
                classes.append(css)
        if run.get("fontType") == "Monospace":
            classes.append("ac-mono")
        if run.get("highlight") is True:
            classes.append("ac-highlight")
        span = f'<span class="{" ".join(classes)}">{text(run.get("text", ""))}</span>'
        action = mapping(run.get("selectAction"))
        runs.append(link(action.get("url"), span, "ac-link") if action.get("type") == "Action.OpenUrl" else span)
    align = choice(element.get("horizontalAlignment"), ALIGNMENTS, "")
    return f'<div class="ac-richtext {layout} {align}">{"".join(runs)}</div>'


def _fact_set(element: Mapping[str, Any], layout: str) -> str:
    rows = "".join(
        f'<tr><td class="ac-fact-title">{markdown(str(fact.get("title", "")))}</td>'
        f'<td class="ac-fact-value">{markdown(str(fact.get("value", "")))}</td></tr>'
        for fact in map(mapping, items(element.get("facts")))
    )
    return f'<table class="ac-facts {layout}">{rows}</table>'


def _container(element: Mapping[str, Any], layout: str) -> str:
    style = choice(element.get("style"), CONTAINER_STYLES, "")
    classes = ["ac-container", layout, style]
    if style:
        classes.append("ac-padded")
    if element.get("bleed") is True and style:
        classes.append("ac-bleed")
    return f'<div class="{" ".join(filter(None, classes))}">{_elements(items(element.get("items")))}</div>'


def _column_set(element: Mapping[str, Any], layout: str) -> str:
    style = choice(element.get("style"), CONTAINER_STYLES, "")
    columns = "".join(_column(mapping(column)) for column in items(element.get("columns")))
    padded = f" {style} ac-padded" if style else ""
    return f'<div class="ac-columnset {layout}{padded}">{columns}</div>'


def _column(column: Mapping[str, Any]) -> str:
    if column.get("type", "Column") != "Column":
        return unsupported(f"column {column.get('type')!r}")
    style = choice(column.get("style"), CONTAINER_STYLES, "")
    padded = f" {style} ac-padded" if style else ""
    return (
        f'<div class="ac-column{padded}" style="flex: {_column_flex(column.get("width"))}">'
        f"{_elements(items(column.get('items')))}</div>"
    )


def _column_flex(width: object) -> str:
    """CSS `flex` for a column width: "auto", "stretch" (the default), a weight, or pixels."""
    if width == "auto":
        return "0 0 auto"
    if isinstance(width, int | float) and not isinstance(width, bool) and 0 < width <= 1000:
        return f"{width:g} {width:g} 0"
    pixels = _PIXELS.match(width) if isinstance(width, str) else None
    if pixels:
        return f"0 0 {int(pixels.group(1))}px"
    return "1 1 0"


def _action_set(element: Mapping[str, Any], layout: str) -> str:
    return f'<div class="ac-actionset {layout}">{_actions(items(element.get("actions")))}</div>'


def _actions(actions: list[Any]) -> str:
    buttons = []
    for action in map(mapping, actions):
        kind = action.get("type")
        css = choice(action.get("style"), ACTION_STYLES, "ac-action")
        label = text(action.get("title", ""))
        if kind == "Action.OpenUrl":
            button = link(action.get("url"), label, css)
            buttons.append(button if button != label else f'<span class="{css} ac-dead">{label}</span>')
        elif kind in ("Action.ShowCard", "Action.ToggleVisibility", "Action.Submit", "Action.Execute"):
            buttons.append(f'<span class="{css}">{label}</span>')
        else:
            buttons.append(unsupported(f"action {kind!r}"))
    return "".join(buttons)


def _image(element: Mapping[str, Any], layout: str) -> str:
    return f'<div class="ac-image {layout}">[image: {text(element.get("altText", ""))}]</div>'


_ELEMENTS: Mapping[str, Callable[[Mapping[str, Any], str], str]] = MappingProxyType(
    {
        "TextBlock": _text_block,
        "RichTextBlock": _rich_text_block,
        "FactSet": _fact_set,
        "Container": _container,
        "ColumnSet": _column_set,
        "ActionSet": _action_set,
        "Image": _image,
    }
)
