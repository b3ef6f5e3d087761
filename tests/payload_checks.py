"""Assertions on what reaches Slack and Teams, shared by the renderer, delivery and service tests.

Import as `from tests.payload_checks import ...`. Every check accepts the payload
as a dict or as the raw request body (bytes or str), so a fake platform server can pass what it received.
Lengths are counted in UTF-16 units, as Slack counts them; sizes as JSON with non-ASCII escaped, the largest
form any serializer produces.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from markdown_it import MarkdownIt

SCHEMA_PATH = Path(__file__).parent / "schemas" / "adaptive-card-1.5.json"

SLACK_MAX_BLOCKS = 50
SLACK_MAX_TEXT = 40_000
SLACK_MAX_SECTION_TEXT = 3000
SLACK_MAX_FIELDS = 10
SLACK_MAX_FIELD_TEXT = 2000
SLACK_MAX_HEADER = 150
SLACK_MAX_BUTTONS = 25
SLACK_MAX_BUTTON_TEXT = 75
SLACK_MAX_URL = 3000
SLACK_MAX_CONTEXT_ELEMENTS = 10
SLACK_MAX_BLOCKS_CHARS = 12_000
SLACK_CONTROL_SEQUENCES = ("<!", "<@", "<#", "<http")

TEAMS_MAX_BYTES = 28_000
TEAMS_MAX_VERSION = (1, 5)
TEAMS_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def json_size(payload: object) -> int:
    return len(json.dumps(payload).encode("utf-8"))


def _decode(payload: Mapping[str, Any] | bytes | str) -> dict[str, Any]:
    if isinstance(payload, bytes | str):
        decoded = json.loads(payload)
        assert isinstance(decoded, dict), f"payload is JSON {type(decoded).__name__}, not an object"
        return decoded
    return dict(payload)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _is_web_url(url: object) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in url)


# ---------------------------------------------------------------------------------------------- Slack


SLACK_COLOUR = re.compile(r"#[0-9a-fA-F]{6}|good|warning|danger")


def slack_blocks(payload: Mapping[str, Any] | bytes | str) -> list[Any]:
    """Every block of a Slack payload in reading order: the top-level ones, then each attachment's."""
    message = _decode(payload)
    blocks = message.get("blocks")
    if isinstance(blocks, str):  # the Web API also takes blocks as a JSON string
        blocks = json.loads(blocks)
    attachments = message.get("attachments") or []
    return [*(blocks or []), *(block for attachment in attachments for block in attachment.get("blocks", []))]


def assert_valid_slack_payload(payload: Mapping[str, Any] | bytes | str) -> None:
    """Block Kit limits, non-empty texts, block count and size (attachments' blocks included), no `link_names`/
    `parse`, attachments that hold blocks and a colour."""
    message = _decode(payload)
    assert "link_names" not in message, "link_names makes @channel in event text ping people"
    assert "parse" not in message, "parse=full turns event text into mentions and links"
    text = message.get("text")
    assert isinstance(text, str) and text.strip(), f"top-level text must be a non-empty string: {text!r}"
    assert utf16_length(text) <= SLACK_MAX_TEXT, "top-level text longer than 40,000"
    top = message.get("blocks")
    if isinstance(top, str):
        top = json.loads(top)
    # Without top-level blocks Slack would show the notification text above the attachment as well.
    assert isinstance(top, list) and top, "blocks must be a non-empty list"
    attachments = message.get("attachments", [])
    assert isinstance(attachments, list) and len(attachments) <= 1, "at most one attachment, the coloured body"
    for attachment in attachments:
        assert set(attachment) <= {"color", "blocks", "fallback"}, f"unexpected attachment keys {set(attachment)}"
        assert SLACK_COLOUR.fullmatch(str(attachment.get("color"))), f"bad colour {attachment.get('color')!r}"
        assert isinstance(attachment.get("blocks"), list) and attachment["blocks"], "an attachment needs blocks"
    blocks = slack_blocks(message)
    assert len(blocks) <= SLACK_MAX_BLOCKS, f"{len(blocks)} blocks, Slack allows {SLACK_MAX_BLOCKS}"
    size = utf16_length(json.dumps([top, attachments], ensure_ascii=False))
    assert size <= SLACK_MAX_BLOCKS_CHARS, f"blocks serialize to {size} characters, over {SLACK_MAX_BLOCKS_CHARS}"
    action_ids: list[str] = []
    for index, block in enumerate(blocks):
        _check_slack_block(index, block, action_ids)
    assert len(action_ids) == len(set(action_ids)), f"duplicate action_id in {action_ids}"


def _check_text_object(where: str, obj: object, limit: int, kind: str | None = None) -> None:
    assert isinstance(obj, Mapping), f"{where}: text object must be an object, got {obj!r}"
    assert obj.get("type") in ("plain_text", "mrkdwn"), f"{where}: bad text type {obj.get('type')!r}"
    if kind is not None:
        assert obj["type"] == kind, f"{where}: must be {kind}"
    text = obj.get("text")
    assert isinstance(text, str) and text.strip(), f"{where}: empty text is rejected by Slack"
    assert utf16_length(text) <= limit, f"{where}: {utf16_length(text)} characters, limit {limit}"
    allowed = {"type", "text", "emoji"} if obj["type"] == "plain_text" else {"type", "text", "verbatim"}
    assert set(obj) <= allowed, f"{where}: unknown keys {set(obj) - allowed}"


def _check_slack_block(index: int, block: object, action_ids: list[str]) -> None:
    where = f"block {index}"
    assert isinstance(block, Mapping), f"{where} is not an object"
    kind = block.get("type")
    if kind == "header":
        _check_text_object(f"{where} header", block.get("text"), SLACK_MAX_HEADER, "plain_text")
    elif kind == "section":
        assert "text" in block or "fields" in block, f"{where}: a section needs text or fields"
        if "text" in block:
            _check_text_object(f"{where} text", block["text"], SLACK_MAX_SECTION_TEXT)
        if "fields" in block:
            fields = block["fields"]
            assert isinstance(fields, list) and 0 < len(fields) <= SLACK_MAX_FIELDS, f"{where}: 1-10 fields"
            for number, field in enumerate(fields):
                _check_text_object(f"{where} field {number}", field, SLACK_MAX_FIELD_TEXT)
    elif kind == "actions":
        elements = block.get("elements")
        assert isinstance(elements, list) and 0 < len(elements) <= SLACK_MAX_BUTTONS, f"{where}: 1-25 elements"
        for number, button in enumerate(elements):
            assert button.get("type") == "button", f"{where} element {number}: only link buttons expected"
            _check_text_object(f"{where} button {number}", button.get("text"), SLACK_MAX_BUTTON_TEXT, "plain_text")
            url = button.get("url")
            assert _is_web_url(url), f"{where} button {number}: not an http(s) URL: {url!r}"
            assert utf16_length(url) <= SLACK_MAX_URL, f"{where} button {number}: URL over 3,000 characters"
            if "action_id" in button:
                assert 0 < len(button["action_id"]) <= 255, f"{where} button {number}: bad action_id"
                action_ids.append(button["action_id"])
    elif kind == "context":
        elements = block.get("elements")
        assert isinstance(elements, list) and 0 < len(elements) <= SLACK_MAX_CONTEXT_ELEMENTS, where
        for number, element in enumerate(elements):
            _check_text_object(f"{where} element {number}", element, SLACK_MAX_SECTION_TEXT)
    elif kind != "divider":
        raise AssertionError(f"{where}: unexpected block type {kind!r}")


def assert_no_unescaped_control(payload: Mapping[str, Any] | bytes | str) -> None:
    """No string anywhere in a Slack payload holds a mention, channel link or `<http` link sequence."""
    for text in _strings(_decode(payload)):
        lowered = text.lower()
        for sequence in SLACK_CONTROL_SEQUENCES:
            assert sequence not in lowered, f"unescaped {sequence!r} in {text[:200]!r}"


# ---------------------------------------------------------------------------------------------- Teams


@functools.cache
def adaptive_card_validator() -> jsonschema.Draft6Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft6Validator.check_schema(schema)
    return jsonschema.Draft6Validator(schema)


def assert_valid_adaptive_card(card: Mapping[str, Any]) -> None:
    """Schema-valid (after removing the Teams-only `msteams`), version at most 1.5, http(s) links only."""
    version = card.get("version")
    assert isinstance(version, str), f"the card needs a version string, got {version!r}"
    parsed = tuple(int(part) for part in version.split("."))
    assert parsed <= TEAMS_MAX_VERSION, f"card version {version} is above what Teams Workflows accept (1.5)"
    stripped = {key: value for key, value in card.items() if key != "msteams"}
    errors = sorted(adaptive_card_validator().iter_errors(stripped), key=lambda error: list(error.path))
    assert not errors, "card does not match the Adaptive Card 1.5 schema:\n" + "\n".join(
        f"{list(error.path)}: {error.message[:300]}" for error in errors[:5]
    )
    for action in _open_url_actions(stripped):
        assert _is_web_url(action.get("url")), f"Action.OpenUrl with a non-http(s) URL: {action.get('url')!r}"


def _open_url_actions(value: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        if value.get("type") == "Action.OpenUrl":
            yield value
        for item in value.values():
            yield from _open_url_actions(item)
    elif isinstance(value, list):
        for item in value:
            yield from _open_url_actions(item)


def assert_valid_teams_envelope(envelope: Mapping[str, Any] | bytes | str) -> None:
    """The Workflows envelope: one Adaptive Card attachment, at most 28,000 bytes, schema-valid card."""
    if isinstance(envelope, bytes | str):
        raw = envelope.encode("utf-8") if isinstance(envelope, str) else envelope
        assert len(raw) <= TEAMS_MAX_BYTES, f"request body is {len(raw)} bytes, over {TEAMS_MAX_BYTES}"
    message = _decode(envelope)
    size = json_size(message)
    assert size <= TEAMS_MAX_BYTES, f"envelope serializes to {size} bytes, over {TEAMS_MAX_BYTES}"
    assert message.get("type") == "message", f"envelope type must be 'message', got {message.get('type')!r}"
    attachments = message.get("attachments")
    assert isinstance(attachments, list) and len(attachments) == 1, "exactly one attachment (one card per post)"
    attachment = attachments[0]
    assert attachment.get("contentType") == TEAMS_CONTENT_TYPE, f"contentType {attachment.get('contentType')!r}"
    assert "contentUrl" in attachment and attachment["contentUrl"] is None, "contentUrl must be null"
    card = attachment.get("content")
    assert isinstance(card, Mapping) and card.get("type") == "AdaptiveCard", "content must be an AdaptiveCard"
    assert_valid_adaptive_card(card)


# Hostile markup in every field of every sample event (tests/render/test_security_markup.py, tests/render/test_security_mentions.py).
SAMPLES = Path(__file__).parent.parent / "notifier" / "samples"
HOSTILE = (
    "<!channel> <!here|here> <@U123ABC> <#C999> <https://evil.example/phish|Click to re-login> "
    "[login](https://evil.example/x) <at>Everyone</at> **bold** &amp; & javascript:alert(1)"
)
EVIL_URLS = ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "file:///etc/passwd")


def poison(value: Any) -> Any:
    """Every string in the event's data becomes hostile; URL-ish keys get hostile schemes."""
    if isinstance(value, dict):
        return {key: _poison_item(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [poison(item) for item in value]
    if isinstance(value, str):
        return HOSTILE
    return value


def _poison_item(key: str, item: Any) -> Any:
    if "url" in key.lower() or "uri" in key.lower():
        return [EVIL_URLS[0], EVIL_URLS[1]] if isinstance(item, list) else EVIL_URLS[0]
    return poison(item)


def hostile_events() -> list[tuple[str, dict[str, Any]]]:
    events = []
    for path in sorted(SAMPLES.glob("*.json")):
        raw = json.loads(path.read_text())
        raw["data"] = poison(raw.get("data") or {})
        raw["data"]["labels"] = {HOSTILE: HOSTILE, "Problem URL": EVIL_URLS[2]}
        raw["data"].setdefault("project", HOSTILE)
        events.append((path.stem, raw))
    return events


# In Teams markdown, `<at>` starts a mention and `[x](url)` a link, unless backslash-escaped.
UNESCAPED_MARKUP = re.compile(r"(?<!\\)<at|(?<!\\)\]\(")


# CommonMark with raw HTML (an `<at>` tag) and strikethrough, as a stand-in for the markdown of Teams clients.
_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("strikethrough")
_TAG = re.compile(r"<[^>]*>")
_PARAGRAPH_TAGS = frozenset({"<p>", "</p>", "<br />"})


def assert_plain_markdown(text: str, plain: str | None = None) -> None:
    """Markdown reads `text` as paragraphs of plain text: no link, emphasis, code, tag, heading, list or quote.

    With `plain`, the text it shows is `plain`'s, word for word (markdown drops line breaks and indentation).
    """
    rendered = _MARKDOWN.render(text)
    tags = set(_TAG.findall(rendered)) - _PARAGRAPH_TAGS
    assert not tags, f"markdown acts on {text!r}: {rendered!r}"
    if plain is not None:
        shown = html.unescape(_TAG.sub(" ", rendered))
        assert shown.split() == plain.split(), f"{text!r} shows as {shown!r}, not as {plain!r}"


def markdown_texts(node: Any) -> list[str]:
    """Texts Teams reads as markdown: TextBlock text and FactSet titles and values (TextRuns are plain)."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "TextBlock":
            found.append(node["text"])
        if node.get("type") == "FactSet":
            found.extend(text for fact in node["facts"] for text in (fact["title"], fact["value"]))
        for value in node.values():
            found.extend(markdown_texts(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(markdown_texts(item))
    return found


def all_strings(payload: Any) -> list[str]:
    if isinstance(payload, dict):
        return [s for value in payload.values() for s in all_strings(value)]
    if isinstance(payload, list):
        return [s for value in payload for s in all_strings(value)]
    return [payload] if isinstance(payload, str) else []
