"""Did you mean: the known name closest to a misspelt one, for error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known name `word` was most likely meant to be (`chanels` -> `channels`), or None if none is close."""
    names = [name for name in known if name != word]
    lowered = {name.lower(): name for name in names}
    if word.lower() in lowered:  # `Channels` for `channels`
        return lowered[word.lower()]
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.75)
    return lowered[found[0]] if found else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`; did you mean 'channels'?`, or an empty string when nothing known is close."""
    match = closest(word, known)
    return f"; did you mean {match!r}?" if match else ""
