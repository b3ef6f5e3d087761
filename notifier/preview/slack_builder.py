"""A link that opens a Slack payload in Slack's Block Kit Builder, for `render --format slack --builder-link`.

The builder reads the message from the URL fragment: the JSON `{"blocks": [...]}` URL-encoded after `#`
(attachments ride along when the payload has them). The fragment never reaches a server, but opening the
builder needs a Slack login.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

BUILDER_URL = "https://app.slack.com/block-kit-builder#"


def builder_link(payload: Mapping[str, Any]) -> str:
    message: dict[str, Any] = {"blocks": payload.get("blocks", [])}
    if payload.get("attachments"):
        message["attachments"] = payload["attachments"]
    return BUILDER_URL + quote(json.dumps(message, ensure_ascii=False, separators=(",", ":")), safe="")
