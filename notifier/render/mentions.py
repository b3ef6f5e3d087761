"""Mentions come from the operator's config, never from events: a route's `mentions:`, and whom one
notification of that route mentions.

    routes:
      - name: prod
        match: {projects: [sockshop], stages: [production]}
        channels: [prod-slack, teams]
        mentions:
          - when: {results: [fail]}
            slack: ["<@U024BE7LH>", "<!subteam^SAZ94GDB8>", "<!here>"]
            teams: [{name: "On-call", id: "oncall@example.com"}]

These strings are the only text a renderer puts into a payload unescaped, so each is checked against the
platform's mention forms when the config is loaded. Slack gets them as written; Teams gets `<at>name</at>` in
the card with the matching `msteams.entities`; the console shows them. `when` takes the keys of a route's
`match`; a `when` without `types` holds for every type the route takes. Mentions are resolved at render time
from the notification's route, so a config change applies to what is still queued, like a template fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator, model_validator

from notifier.keptn.match import Match
from notifier.units import comma_list

# Distinct mentions per platform that one route may name across its rules: a Slack section holds 3,000
# characters, and a message that pings twenty people or groups has stopped meaning anything.
MAX_PER_ROUTE: Final = 20
MAX_TEAMS_NAME: Final = 100
SLACK_FORMS: Final = "<@U…> or <@W…> for a person, <!subteam^S…> for a user group, or <!here>, <!channel>, <!everyone>"
_SLACK_MENTION = re.compile(r"<@[UW][A-Z0-9]{2,20}>|<!subteam\^S[A-Z0-9]{2,20}>|<!(?:here|channel|everyone)>")
_SLACK_ID = re.compile(r"[UWS][A-Z0-9]{2,20}")
_SLACK_LABELLED = re.compile(r"(<(?:@[UW]|!subteam\^S)[A-Z0-9]{2,20})\|[^>]*>")
# A sign-in name (UPN, usually the e-mail address) or a Microsoft Entra (Azure AD) object id.
_TEAMS_UPN = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]+")
_TEAMS_OBJECT_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _slack_mention(value: str) -> str:
    if _SLACK_MENTION.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not a Slack mention: {_slack_fix(value)}")


def _slack_fix(value: str) -> str:
    """What the operator most likely meant; the list of forms when nothing fits."""
    bare = value.strip()
    word = bare.lstrip("@!").lower()
    if bare != value and _SLACK_MENTION.fullmatch(bare):
        return "remove the spaces around it"
    if word in ("here", "channel", "everyone"):
        return f"write <!{word}>"
    if _SLACK_ID.fullmatch(bare):
        return f"write {'<!subteam^' if bare[0] == 'S' else '<@'}{bare}>"
    labelled = _SLACK_LABELLED.fullmatch(bare)
    if labelled:
        return f"drop the |label: {labelled.group(1)}>"
    upper = bare.upper().replace("SUBTEAM", "subteam")
    if _SLACK_MENTION.fullmatch(upper):
        return f"Slack IDs are upper case: {upper}"
    if bare.startswith("<#"):
        return "a channel link notifies nobody; <!channel> notifies everyone in the channel"
    if bare.startswith("@"):
        return (
            "Slack needs the member ID, not the name: <@U…> (the profile's ⋮ menu, Copy member ID), "
            "or <!subteam^S…> for a user group"
        )
    return f"write {SLACK_FORMS}"


SlackMention = Annotated[str, AfterValidator(_slack_mention)]


class TeamsMention(BaseModel):
    """`{name: "On-call", id: "oncall@example.com"}`: shown as `<at>On-call</at>`, resolved by `id`."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    name: str
    id: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        name = " ".join(value.split())
        if "<" in name or ">" in name:
            raise ValueError(f"{value!r}: write the name only, e.g. On-call; the card adds <at>…</at> itself")
        if _CONTROL.search(name):
            raise ValueError(f"{value!r} holds control characters: write the name as Teams shows it")
        if not name or len(name) > MAX_TEAMS_NAME:
            raise ValueError(f"must be the name Teams shows, 1 to {MAX_TEAMS_NAME} characters (got {len(name)})")
        return name

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        user = value.strip()
        if _TEAMS_UPN.fullmatch(user) or _TEAMS_OBJECT_ID.fullmatch(user):
            return user
        raise ValueError(
            f"{value!r} is not a Teams user id: give the sign-in address (UPN, e.g. jane@example.com) "
            "or the Microsoft Entra object id (e.g. 8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca)"
        )

    @property
    def markup(self) -> str:
        return f"<at>{self.name}</at>"


class MentionRule(BaseModel):
    """One entry of a route's `mentions:` list: whom to mention when `when` holds for the event."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    when: Match = Match(types=[">"])
    slack: tuple[SlackMention, ...] = ()
    teams: tuple[TeamsMention, ...] = ()

    @field_validator("when", mode="before")
    @classmethod
    def _every_type(cls, value: object) -> object:
        # The route's `match` has already chosen the types; `when` narrows within them.
        if isinstance(value, dict) and "types" not in value:
            return {**value, "types": [">"]}
        return value

    @field_validator("slack", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return comma_list(value)

    @model_validator(mode="after")
    def _names_someone(self) -> MentionRule:
        if not self.slack and not self.teams:
            raise ValueError(
                'mentions nobody: add slack: ["<!here>"] or teams: [{name: On-call, id: oncall@example.com}]'
            )
        return self


def _within_limits(rules: tuple[MentionRule, ...]) -> tuple[MentionRule, ...]:
    slack = {mention for rule in rules for mention in rule.slack}
    teams = {mention for rule in rules for mention in rule.teams}
    for platform, count in (("Slack", len(slack)), ("Teams", len(teams))):
        if count > MAX_PER_ROUTE:
            raise ValueError(
                f"{count} different {platform} mentions, at most {MAX_PER_ROUTE} per route: "
                "mention a user group instead"
            )
    ids_by_name: dict[str, set[str]] = {}
    for mention in teams:
        ids_by_name.setdefault(mention.name, set()).add(mention.id)
    for name, ids in sorted(ids_by_name.items()):
        if len(ids) > 1:
            raise ValueError(
                f"the Teams name {name!r} stands for {', '.join(sorted(ids))}: give each person a name of their own"
            )
    return rules


# A route's `mentions:` key.
MentionRules = Annotated[tuple[MentionRule, ...], AfterValidator(_within_limits)]


@dataclass(frozen=True, slots=True)
class Mentions:
    """Whom one notification mentions, in the order configured; hashable, so renders can be cached by it."""

    slack: tuple[str, ...] = ()
    teams: tuple[TeamsMention, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.slack or self.teams)

    @property
    def slack_markup(self) -> str:
        return " ".join(self.slack)

    @property
    def teams_markup(self) -> str:
        return " ".join(mention.markup for mention in self.teams)

    def teams_entities(self) -> list[dict[str, Any]]:
        """The card's `msteams.entities`: what makes each `<at>name</at>` a mention of that user."""
        return [
            {"type": "mention", "text": mention.markup, "mentioned": {"id": mention.id, "name": mention.name}}
            for mention in self.teams
        ]

    def describe(self) -> str:
        """For the console and the CLI: `Slack <!here> <@U024BE7LH>; Teams @On-call`."""
        parts = []
        if self.slack:
            parts.append("Slack " + " ".join(self.slack))
        if self.teams:
            parts.append("Teams " + ", ".join(f"@{mention.name}" for mention in self.teams))
        return "; ".join(parts)


NO_MENTIONS: Final = Mentions()
