"""What the Slack and Teams HTML previews share: escaping, safe links and a note for what cannot be shown.

The previews turn payloads into HTML, and every string in a payload may come from an event, so every one of
them goes through `text` (or `attribute`) on its way out; markup is only ever built from fixed tags and
class names chosen from fixed tables. Links keep only http(s) URLs and never load anything by themselves.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from notifier.render.plaintext import web_url


def text(value: object) -> str:
    """Any value as HTML text: `<script>` in an event shows as `<script>`."""
    return html.escape(str(value), quote=False)


def attribute(value: object) -> str:
    """A value for inside a double-quoted attribute."""
    return html.escape(str(value), quote=True)


def link(url: object, inner_html: str, css_class: str = "") -> str:
    """An anchor to an http(s) URL opening in a new tab, else `inner_html` on its own (no link)."""
    target = web_url(url) if isinstance(url, str) else None
    if target is None:
        return inner_html
    class_attribute = f' class="{css_class}"' if css_class else ""
    return (
        f'<a{class_attribute} href="{attribute(target)}" title="{attribute(target)}" '
        f'target="_blank" rel="noopener noreferrer">{inner_html}</a>'
    )


def choice(value: object, allowed: Mapping[str, str], default: str) -> str:
    """The class name for a payload's enum value (case-insensitive), or `default` for anything else."""
    return allowed.get(str(value).lower(), default) if isinstance(value, str) else default


def unsupported(kind: object) -> str:
    """Shown in place of an element the preview does not draw, so nothing disappears silently."""
    return f'<div class="unsupported">[not previewed: {text(kind)}]</div>'


def mapping(value: object) -> Mapping[str, Any]:
    """The value if it is a JSON object, else an empty one: a payload of odd shape still previews."""
    return value if isinstance(value, Mapping) else {}


def items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
