"""`data.labels` as a message shows them: a few, cut short, links as buttons.

Teams put build numbers and links to their CI runs in labels, so a reader wants them; but an event may carry
fifty labels of any length, so a message shows at most `MAX_SHOWN` of them, each cut to a readable length,
and says how many it left out. Values that are real web URLs become link buttons (at most `MAX_LINKS`)
instead of text, so nothing shows twice; a URL that carries a password (`http://ci:secret@ci.example.com/`)
is shown as text without it, never as a button. Escaping is the renderers' job, as for all event text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, TypedDict

from notifier.keptn.urls import is_real_url, link_url, without_userinfo

MAX_SHOWN: Final = 10
MAX_LINKS: Final = 2
MAX_NAME_CHARS: Final = 40
MAX_VALUE_CHARS: Final = 120
SEPARATOR: Final = " · "


class LabelPair(TypedDict):
    name: str
    value: str


class LabelLink(TypedDict):
    title: str
    url: str


class ShownLabels(TypedDict):
    """What templates see as `labels_shown`."""

    text: str
    pairs: list[LabelPair]
    links: list[LabelLink]
    more: int


def shown_labels(labels: Mapping[str, str], skip_values: Iterable[str] = ()) -> ShownLabels:
    """`{text, pairs: [{name, value}], links: [{title, url}], more}`; `skip_values` are shown elsewhere already.

    `text` is the pairs on one line ("buildId: 1861 · owner: team-checkout (and 3 more)"), for a fact.
    """
    skipped = {value for value in skip_values if value}
    pairs: list[LabelPair] = []
    links: list[LabelLink] = []
    more = 0
    for name, value in labels.items():
        value = value.strip()
        if not name.strip() or not value or value in skipped or link_url(value) in skipped:
            continue
        if len(links) < MAX_LINKS and is_real_url(target := link_url(value)):
            links.append({"title": _cut(name, MAX_NAME_CHARS), "url": target})
        elif len(pairs) < MAX_SHOWN:
            pairs.append({"name": _cut(name, MAX_NAME_CHARS), "value": _cut(value, MAX_VALUE_CHARS)})
        else:
            more += 1
    text = SEPARATOR.join(f"{pair['name']}: {pair['value']}" for pair in pairs)
    if more:
        text += f" (and {more} more)"
    return {"text": text, "pairs": pairs, "links": links, "more": more}


def _cut(text: str, limit: int) -> str:
    # Without user info before the cut, which could otherwise leave half a password behind.
    text = " ".join(without_userinfo(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
