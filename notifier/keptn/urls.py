"""URLs from events: which ones are real enough to become a button, and how to show one without its secret.

Keptn's own examples and many integrations' defaults carry placeholders (`https://.../#problems/...`): a
button to them is a dead end, so they are not links. A URL may carry a credential in its user info
(`https://user:token@host/repo.git`, a CI link in `data.labels`): it is shown only without it, and a URL that
carried a password never becomes a button (`link_url`, which every link passes through, on every platform).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit, urlunsplit

# A host name of letters, digits and inner hyphens per label (Unicode letters allowed), an IPv4 address, or
# an IPv6 literal in brackets; an optional port.
_HOST: Final = re.compile(
    r"(?:[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
)
_ELLIPSES: Final = frozenset({"...", "…"})
_PLAIN_URL: Final = re.compile(r"(https?)://([^/?#\[\]\t\r\n]*)(?=[/?#]|\Z)([^?#\t\r\n]*)(?=[?#]|\Z)")
_REMOTE_SCHEMES: Final = frozenset({"http", "https", "ssh", "git"})
# The user info of a URL at the start of a string: the authority (up to the first `/?#`) up to its last "@".
_LEADING_USERINFO: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")
# The same anywhere in a text, where the authority also ends at whitespace. The scheme is the whole run of scheme
# characters before `://` (the lookbehind): trying every character of a long word as its start would take
# quadratic time, and "42https://" shows a password as well as "https://" does.
_USERINFO: Final = re.compile(r"((?<![A-Za-z0-9+.-])[A-Za-z0-9+.-]*://)[^\s/?#]*@")
# Userinfo in an scp-like remote (`user:secret@host:path`): the part before the last "@".
_SCP_LIKE: Final = re.compile(r"(?P<user>[^@/\s]+)@(?P<rest>[^@/\s:]+:.*)")


def link_url(url: str) -> str:
    """`url` as a link may open it: without a user name in it; "" when it carried a password.

    A button to `https://ci:secret@ci.example.com/job/1` would post the password to the channel; without the
    password it would not open either. Every link passes here: the templates', the labels', each renderer's.
    """
    if "@" not in url:
        return url
    found = _LEADING_USERINFO.match(url)
    if found is None:
        return url
    return "" if ":" in found[2] else found[1] + url[found.end() :]


def without_userinfo(text: str) -> str:
    """`text` with the user info (`user:password@`) taken out of every URL in it: what a reader may see."""
    return _USERINFO.sub(_scheme, text) if "@" in text else text


def _scheme(match: re.Match[str]) -> str:
    return match[1]


def is_real_url(url: str) -> bool:
    """An absolute http(s) URL with a usable host: what may become a link button."""
    if not url or url.split() != [url]:  # no whitespace
        return False
    try:
        scheme, netloc, path = _split(url)
    except ValueError:
        return False
    return scheme in ("http", "https") and bool(netloc) and not _is_placeholder(url, netloc, path)


def is_placeholder(url: str) -> bool:
    """True for `https://...`-style URLs: no usable host, or an ellipsis standing for a part of the path.

    A "..." inside a segment is real (GitHub's `compare/v1...v2`); a segment that is only dots is not.
    """
    try:
        _, netloc, path = _split(url.strip())
    except ValueError:
        return True
    return _is_placeholder(url, netloc, path)


def _is_placeholder(url: str, netloc: str, path: str) -> bool:
    if not _HOST.fullmatch(netloc.rpartition("@")[2]):
        return True
    return "…" in url or any(segment in _ELLIPSES for segment in path.split("/"))


def _split(url: str) -> tuple[str, str, str]:
    """The scheme, netloc and path urlsplit finds (raising ValueError as it does), most often without it.

    urlsplit is the costly part of a link check, and its cache of 128 URLs does not hold a stream of events'
    links. An ASCII http(s) URL with no tab or line break and no bracket in its netloc splits as the regex
    says (a property test holds the two together).
    """
    plain = _PLAIN_URL.match(url) if url.isascii() else None
    if plain:
        return plain[1], plain[2], plain[3]
    parts = urlsplit(url)
    return parts.scheme, parts.netloc, parts.path


def safe_git_remote(url: str) -> str:
    """A git remote without user, password or token (no userinfo, no query, no fragment); "" if it is none.

    `https://oauth2:glpat-x@gitlab.example.com/team/repo.git?private_token=y` becomes
    `https://gitlab.example.com/team/repo.git`. An scp-like `git@host:path` keeps its user name (`git` is
    not a secret) unless it carries a password. Anything else (`javascript:...`, free text) is not shown.
    """
    url = url.strip()
    if any(character.isspace() for character in url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() in _REMOTE_SCHEMES and parts.netloc.rpartition("@")[2]:
        return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    scp = _SCP_LIKE.fullmatch(url)
    if scp is None:
        return ""
    return scp.group("rest") if ":" in scp.group("user") else url
