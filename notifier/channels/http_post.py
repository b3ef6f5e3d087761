"""The service's shared aiohttp session, and one JSON POST through it for the webhook channels (Slack, Teams).

A webhook post needs no client library: the body is serialised once with orjson, the answer read up to a bound,
and the channels classify it with the shared rules (http_errors.py). Exceptions propagate for them to classify.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import aiohttp
from yarl import URL

# Connections kept to the platforms at most, over all channels.
MAX_CONNECTIONS = 100
# Enough of an answer to explain a failure; Slack answers `ok`, Workflows 202 with an empty body.
MAX_ANSWER_BYTES = 4096
# JSON is UTF-8 by definition (RFC 8259): no charset parameter.
JSON_HEADERS: Mapping[str, str] = MappingProxyType({"Content-Type": "application/json"})


def shared_session() -> aiohttp.ClientSession:
    """The one session every channel, the registration and `send-test` post through. It has no timeout of its
    own: each request is bounded by its caller alone (a channel's `timeout`, up to 120 s, or the registration's),
    where a session-wide total would cut a longer channel timeout short. Call it with the event loop running."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(), connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS))


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str
    headers: Mapping[str, str]


async def post_json(session: aiohttp.ClientSession, url: URL, body: bytes, *, allow_redirects: bool) -> Answer:
    """POST `body` (JSON already serialised) and read the answer. The caller bounds it with `asyncio.timeout`."""
    async with session.post(url, data=body, headers=JSON_HEADERS, allow_redirects=allow_redirects) as response:
        answer = await response.content.read(MAX_ANSWER_BYTES)
        return Answer(response.status, answer.decode("utf-8", "replace"), response.headers)
