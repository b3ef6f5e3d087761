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

    def covers(self, other: SubjectPattern) -> bool:
        """Whether every subject `other` matches, this matches too (JetStream refuses such filters side by side)."""
        for index, token in enumerate(self.tokens):
            if token == ">":
                return len(other.tokens) > index
            if index >= len(other.tokens) or other.tokens[index] == ">":
                return False
            if token != "*" and (other.tokens[index] == "*" or token != other.tokens[index]):
                return False
        return len(other.tokens) == len(self.tokens)


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

    def essential(self) -> tuple[SubjectPattern, ...]:
        """The patterns without repeats and without those another one covers: what to subscribe to, and what
        JetStream accepts as the filters of one consumer. Patterns that only partly overlap both stay: on core
        NATS an event they both match comes twice, and the dedup drops the second."""
        kept: list[SubjectPattern] = []
        for pattern in self.patterns:
            if not any(other.covers(pattern) for other in kept):
                kept = [other for other in kept if not pattern.covers(other)] + [pattern]
        return tuple(kept)

    def __str__(self) -> str:
        return ",".join(pattern.text for pattern in self.patterns)
