"""Plain-text helpers every renderer shares: cleaning, truncation that respects escaping, URL checks.

Truncation works on the plain text and escapes afterwards, so a cut can never split an escape such as `&amp;`
or `\\[`; the limit is still checked on the escaped result, which is what the platform counts. Cleaning comes
before either, so no cut can leave half a URL's credential behind its removal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from notifier.keptn.urls import link_url, without_userinfo

ELLIPSIS = "…"

# C0/C1 controls except tab and newline (terminal escapes, NUL), and the bidirectional overrides that make
# text display in a different order than it reads ("Trojan Source").
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Rejected in URLs: backslash, controls, bidi overrides, and any whitespace but the plain space.
_URL_REJECTED = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|[^\S ]")
# Percent-encoded, as browsers do.
_URL_ENCODED = re.compile(r"[ \"<>^`{|}]")
# An http(s) URL whose netloc holds no brackets: urlsplit reads that scheme and netloc, and raises nothing.
_PLAIN_WEB_URL = re.compile(r"https?://([^/?#\[\]]*)(?=[/?#]|\Z)")


def clean(text: str) -> str:
    """Normalise newlines, drop control and bidi-override characters, which no platform shows usefully, and the
    user info (`user:password@`) of any URL: whatever a message says, no credential in a URL is posted."""
    # Printable text holds none of them (controls and bidi overrides are not printable): most text is.
    if not (text.isprintable() or ("\r" not in text and text.replace("\n", "").replace("\t", "").isprintable())):
        text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return without_userinfo(text)


def one_line(text: str) -> str:
    """Cleaned text on a single line, for titles, names and button labels."""
    return " ".join(clean(text).split())


def identity(text: str) -> str:
    return text


def utf16_length(text: str) -> int:
    """Length as JavaScript and most platform limits count it: an emoji outside the BMP counts twice."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def truncate(
    text: str,
    limit: int,
    render: Callable[[str], str] = identity,
    measure: Callable[[str], int] = len,
) -> str:
    """`render(text)`, or the longest `render(prefix) + "…"` whose measure is at most `limit`.

    `render` (an escaper) must never make a longer input shorter, which holds for character-wise escaping.
    """
    rendered = render(text)
    if measure(rendered) <= limit:
        return rendered
    budget = limit - measure(ELLIPSIS)
    if budget < 0:
        return ""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(render(text[:middle])) <= budget:
            low = middle
        else:
            high = middle - 1
    prefix = text[:low].rstrip()
    return render(prefix) + ELLIPSIS if prefix else ELLIPSIS


def _percent_encoded(match: re.Match[str]) -> str:
    return f"%{ord(match.group()):02X}"


def web_url(url: str) -> str | None:
    """The URL ready for a client if it is an absolute http(s) URL with a host, else None.

    Characters that RFC 3986 forbids but browsers quietly encode (space, quotes, `<>{}|^` and backtick) are
    percent-encoded the same way; control characters and backslashes (read as "/" by browsers, a classic way
    to disguise a host) reject the URL. A user name is left out, and a URL with a password is none
    (`notifier.urls.link_url`).
    """
    url = url.strip()
    # Printable ASCII holds no control character and no whitespace but the space: only the backslash to look for.
    if (not url.isascii() or not url.isprintable() or "\\" in url) and _URL_REJECTED.search(url):
        return None
    url = _URL_ENCODED.sub(_percent_encoded, url)
    plain = _PLAIN_WEB_URL.match(url) if url.isascii() else None
    if plain:  # what urlsplit says of it, without its parse: the host is the netloc's part after "@", before ":"
        return (link_url(url) or None) if plain[1].rpartition("@")[2].partition(":")[0] else None
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not hostname:
        return None
    return link_url(url) or None
