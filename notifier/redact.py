"""One place that removes credentials from any text before it is logged, printed or exported."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

MASK = "[REDACTED]"
# Credentials that are recognisable by shape even when nobody registered them (a URL typed in an event).
_SHAPES = (
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"(?i)(sig=)[^&\s\"']+"),
    re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s\"'<>]+"),
)


def url_secrets(url: str) -> list[str]:
    """The parts of a webhook URL that act as the credential: its path, its query values, the whole URL."""
    parts = urlsplit(url)
    found = [url]
    if parts.path.strip("/"):
        found.append(parts.path)
    found.extend(value for _, value in parse_qsl(parts.query) if len(value) >= 8)
    return found


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.learn(secrets)

    def learn(self, secrets: Iterable[str]) -> None:
        """Mask these too, from now on (a reloaded config's new webhooks); what was masked before stays masked,
        since log lines about earlier notifications may still name it."""
        known = {*self._secrets, *(s for s in secrets if s and len(s) >= 6)}
        # Longest first, so a URL is masked whole before its path is. One assignment: a logging thread reads it.
        self._secrets = sorted(known, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for shape in _SHAPES:
            text = shape.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
        return text
