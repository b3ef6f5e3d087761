"""NATS subject matching, as the distributor applies PUBSUB_TOPIC: `*` is one token, `>` one or more."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SubjectPattern:
    text: str
    tokens: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> SubjectPattern:
        text = text.strip()
        tokens = tuple(text.split("."))
        if not text or any(not token for token in tokens):
            raise ValueError(f"{text!r} is not a valid subject: tokens are separated by single dots")
        for index, token in enumerate(tokens):
            if token == ">" and index != len(tokens) - 1:
                raise ValueError(f"{text!r}: '>' may only stand as the last token")
            if token not in ("*", ">") and ("*" in token or ">" in token):
                raise ValueError(f"{text!r}: wildcards must be whole tokens, e.g. sh.keptn.event.*.finished")
        return cls(text, tokens)

    def matches(self, subject: str) -> bool:
        parts = subject.split(".")
        for index, token in enumerate(self.tokens):
            if token == ">":
                return len(parts) > index
            if index >= len(parts) or (token != "*" and token != parts[index]):
                return False
        return len(parts) == len(self.tokens)


@dataclass(frozen=True, slots=True)
class SubjectSet:
    """A comma-separated subscription such as PUBSUB_TOPIC; empty means no event matches."""

    patterns: tuple[SubjectPattern, ...]

    @classmethod
    def parse(cls, items: str | list[str] | tuple[str, ...]) -> SubjectSet:
        pieces = items.split(",") if isinstance(items, str) else list(items)
        return cls(tuple(SubjectPattern.parse(piece) for piece in pieces if piece.strip()))

    def matches(self, subject: str) -> bool:
        return any(pattern.matches(subject) for pattern in self.patterns)

    def __str__(self) -> str:
        return ",".join(pattern.text for pattern in self.patterns)
