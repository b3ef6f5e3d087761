"""One set of rules that turns an HTTP answer or a client exception into sent, retry or dead.

Every HTTP channel uses these, so a 429 or a reset connection means the same thing for Slack and for Teams,
and the reasons stay a small, fixed vocabulary fit for a metric label.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from time import time
from types import MappingProxyType

import aiohttp

from notifier.channels.base import SendResult
from notifier.redact import Redactor

DEFAULT_RETRY_AFTER = 1.0
# Slack Web API error codes that say "try again later" rather than "this will never work".
TRANSIENT_API_ERRORS: Mapping[str, str] = MappingProxyType(
    {
        "ratelimited": "rate_limited",
        "rate_limited": "rate_limited",
        "internal_error": "server_error",
        "fatal_error": "server_error",
        "service_unavailable": "server_error",
        "request_timeout": "timeout",
    }
)
# A platform code becomes a metric label only when it looks like one; anything else is reported by status.
_PLATFORM_CODE = re.compile(r"[a-z][a-z0-9_]{1,47}")
_DETAIL_BODY_CHARS = 200


def platform_code(text: str) -> str | None:
    """The platform's error code when `text` is one (Slack answers `no_service`), else None."""
    candidate = text.strip()
    return candidate if _PLATFORM_CODE.fullmatch(candidate) else None


def retry_after_seconds(headers: Mapping[str, str]) -> float:
    """Seconds to wait from a `Retry-After` header: a number or an HTTP date; 1 when absent or unusable."""
    value = headers.get("Retry-After", "").strip()
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return DEFAULT_RETRY_AFTER
    if not math.isfinite(seconds) or seconds < 0:
        return DEFAULT_RETRY_AFTER
    return seconds


def describe(status: int, body: str, redactor: Redactor) -> str:
    """A short, credential-free account of an answer for logs and the dead-letter list."""
    # Redact before cutting: a credential cut in half would no longer be recognised.
    snippet = " ".join(redactor(body).split())
    if len(snippet) > _DETAIL_BODY_CHARS:
        snippet = snippet[:_DETAIL_BODY_CHARS] + "…"
    return f"HTTP {status}: {snippet}" if snippet else f"HTTP {status}"


def classify_response(
    status: int,
    body: str,
    headers: Mapping[str, str],
    redactor: Redactor,
    *,
    delivered: bool,
    code: str | None = None,
) -> SendResult:
    """Classify one answer.

    `delivered` is the platform's own success signal (any 2xx for Teams, 200 + `ok` for a Slack webhook,
    `ok: true` for the Slack Web API); `code` is the platform's error code when it sent one.
    """
    detail = describe(status, body, redactor)
    if delivered:
        return SendResult.sent(detail)
    code = platform_code(code) if code else None
    if status == 429:
        return SendResult.retry("rate_limited", detail, retry_after_seconds(headers))
    if status >= 500:
        return SendResult.retry("server_error", detail)
    if status == 408:
        return SendResult.retry("timeout", detail)
    if code is not None and code in TRANSIENT_API_ERRORS:
        reason = TRANSIENT_API_ERRORS[code]
        retry_after = retry_after_seconds(headers) if reason == "rate_limited" else None
        return SendResult.retry(reason, detail, retry_after)
    if code:
        return SendResult.dead(code, detail)
    if 200 <= status < 300:
        # A 2xx without the platform's success signal: something else answers at that URL.
        return SendResult.dead("unexpected_response", detail)
    return SendResult.dead(f"http_{status}", detail)


def classify_exception(exc: BaseException, redactor: Redactor, timeout: float | None = None) -> SendResult:
    """Classify a failure to get any answer. Exception texts often hold the URL, so they pass the redactor."""
    text = str(exc)
    detail = redactor(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[: _DETAIL_BODY_CHARS * 2]
    if isinstance(exc, TimeoutError):
        return SendResult.retry("timeout", f"no answer within {timeout:g} s" if timeout else detail)
    if isinstance(exc, aiohttp.InvalidURL):
        return SendResult.dead("invalid_url", detail)
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return SendResult.retry("tls_error", detail)
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | OSError):
        return SendResult.retry("connection_error", detail)
    if isinstance(exc, aiohttp.ClientError):
        return SendResult.retry("protocol_error", detail)
    # A bug or a library surprise: keep the message (the outbox gives up after its own limit).
    return SendResult.retry("unexpected_error", detail)
