"""Fast paths answer exactly as the slow way does (property tests): URL checks, Teams escaping, the 202, route matches."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web
from hypothesis import example, given, settings
from hypothesis import strategies as st

from notifier.intake.http import accepted_response
from notifier.intake.protocol import Summary
from notifier.keptn.events import KeptnEvent, event_from_mapping
from notifier.keptn.fields import FIELDS
from notifier.keptn.match import CompiledMatch, Match
from notifier.keptn.payload import is_automatic_approval
from notifier.keptn.result import result_of
from notifier.keptn.urls import _ELLIPSES, _HOST, _split, is_placeholder, is_real_url, link_url
from notifier.render.plaintext import _URL_ENCODED, _URL_REJECTED, web_url
from notifier.render.teams import (
    _CODE_INDENT,
    _INLINE,
    _LINE_START,
    _escaped,
    _escaped_line_start,
    escape_markdown,
)

PIECES = st.sampled_from(
    ["http", "https", "HTTP", "://", ":/", "//", "/", "?", "#", "[", "]", "::1", "@", ":", ":80", "%", "a", "Z",
     "0", ".", "-", "_", "~", "é", "\uff45", "\u2100", " ", "\t", "\x01", "\\", "example.com", "user:pw@", "[::1]"]
)  # fmt: skip
URLS = st.lists(PIECES, max_size=12).map("".join) | st.text(max_size=40)


def web_url_by_urlsplit(url: str) -> str | None:
    """web_url as it was before its fast path."""
    url = url.strip()
    if _URL_REJECTED.search(url):
        return None
    url = _URL_ENCODED.sub(lambda match: f"%{ord(match.group()):02X}", url)
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not hostname:
        return None
    return link_url(url) or None


@settings(max_examples=3000)
@given(URLS)
def test_web_url_answers_as_urlsplit_does(url: str) -> None:
    assert web_url(url) == web_url_by_urlsplit(url)


def test_the_usual_urls_take_the_fast_path_and_the_odd_ones_do_not() -> None:
    assert web_url("https://bridge.example.com/trace/abc") == "https://bridge.example.com/trace/abc"
    assert web_url("https://user@:80/x") is None
    assert web_url("https://[::1]:80/x") == "https://[::1]:80/x"
    assert web_url("https://[::1/x") is None


MARKDOWN_PIECES = st.sampled_from(
    [" ", "    ", "\t", "\n", "\r", "-", "+", "=", "1", "12", ".", ")", "\u0663", "*", "_", "~", "`", "[", "](", "#",
     ">", "<at>", "&amp;", "x", "é", "\\"]
)  # fmt: skip
TEXTS = st.lists(MARKDOWN_PIECES, max_size=10).map("".join) | st.text(max_size=30)


def escape_markdown_slowly(text: str) -> str:
    """escape_markdown without its fast paths: every substitution, always."""
    paired = frozenset(mark for mark in "*_~`" if text.count(mark) > 1)
    text = _INLINE.sub(lambda match: _escaped(match, paired), text)
    return _LINE_START.sub(_escaped_line_start, _CODE_INDENT.sub("", text))


@settings(max_examples=3000)
@given(TEXTS)
def test_teams_escaping_skips_the_line_markers_only_where_there_are_none(text: str) -> None:
    assert escape_markdown(text) == escape_markdown_slowly(text)


def split_by_urlsplit(url: str) -> tuple[str, str, str] | str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "ValueError"
    return parts.scheme, parts.netloc, parts.path


def split_fast(url: str) -> tuple[str, str, str] | str:
    try:
        return _split(url)
    except ValueError:
        return "ValueError"


def is_placeholder_by_urlsplit(url: str) -> bool:
    """is_placeholder as it was before the fast path."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return True
    if not _HOST.fullmatch(parts.netloc.rpartition("@")[2]):
        return True
    return "…" in url or any(segment in _ELLIPSES for segment in parts.path.split("/"))


def is_real_url_by_urlsplit(url: str) -> bool:
    """is_real_url as it was before the fast path."""
    if not url or any(character.isspace() for character in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not is_placeholder_by_urlsplit(url)


WITH_CONTROLS = st.lists(PIECES | st.sampled_from(["\n", "\r", "\x00", "...", "…", "/..."]), max_size=12).map("".join)


@settings(max_examples=3000)
@given(URLS | WITH_CONTROLS)
@example("https://a[b]/c")  # urlsplit refuses brackets in a netloc unless they hold an IPv6 address
@example("https://[::1]:8080/x")
@example("https://a/b\tc")  # urlsplit drops tabs and line breaks first
@example("https://a\n.b/c")
def test_a_link_splits_as_urlsplit_splits_it(url: str) -> None:
    assert split_fast(url) == split_by_urlsplit(url)


@settings(max_examples=3000)
@given(URLS | WITH_CONTROLS)
def test_a_link_is_real_or_a_placeholder_as_urlsplit_says(url: str) -> None:
    assert is_real_url(url) == is_real_url_by_urlsplit(url)
    assert is_placeholder(url) == is_placeholder_by_urlsplit(url)


@given(st.integers(min_value=0), st.integers(min_value=0), st.integers(min_value=0))
def test_the_202_is_the_json_response_of_the_summary(accepted: int, ignored: int, duplicates: int) -> None:
    summary = Summary(accepted=accepted, ignored=ignored, duplicates=duplicates)
    fast, slow = accepted_response(summary), web.json_response(summary.as_json(), status=202)
    assert (fast.status, fast.body, dict(fast.headers)) == (slow.status, slow.body, dict(slow.headers))


def miss_slowly(compiled: CompiledMatch, event: KeptnEvent) -> str | None:
    """CompiledMatch.miss as it was before it skipped the dimensions a Match leaves empty: every one read.

    Project, stage and service as the field table reads them (issue 17: routes read them as repeat keys do).
    """
    match = compiled.match
    if not compiled.types.matches(event.type):
        return f"type {event.type} is not in {compiled.types}"
    for label, wanted, actual in (
        ("project", match.projects, FIELDS["project"](event)),
        ("stage", match.stages, FIELDS["stage"](event)),
        ("service", match.services, FIELDS["service"](event)),
        ("result", match.results, result_of(event.data) if match.results else ""),
        ("status", match.statuses, event.status),
    ):
        if wanted and actual not in wanted:
            return f"{label} {actual or '(none)'!r} is not one of {', '.join(wanted)}"
    labels = event.labels
    for key, value in match.labels.items():
        if labels.get(key) != value:
            return f"label {key!r} is {labels.get(key, '(absent)')!r}, not {value!r}"
    if not match.automatic_approvals and is_automatic_approval(event.type, event.data):
        return "an automatic approval needs nobody to act (set automatic_approvals: true in match to post it)"
    return None


VALUES = st.sampled_from(["a", "b", "", "Pass", "fail", "FAILED", "succeeded", "errored"])
FIELD_VALUES = VALUES | st.none() | st.integers(-1, 1) | st.lists(VALUES, max_size=1)
TYPES = st.sampled_from(
    ["sh.keptn.event.evaluation.finished", "sh.keptn.event.approval.triggered", "sh.keptn.event.deployment.started"]
)
MATCHES = st.builds(
    Match,
    types=st.lists(
        st.sampled_from(["sh.keptn.>", "sh.keptn.event.*.finished", "sh.keptn.event.approval.>"]), min_size=1
    ),
    projects=st.lists(VALUES, max_size=2),
    stages=st.lists(VALUES, max_size=2),
    services=st.lists(VALUES, max_size=2),
    results=st.lists(VALUES, max_size=2),
    statuses=st.lists(VALUES, max_size=2),
    labels=st.dictionaries(st.sampled_from(["team", "owner"]), VALUES, max_size=2),
    automatic_approvals=st.booleans(),
)
DATA = st.fixed_dictionaries(
    {},
    optional={
        "project": FIELD_VALUES,
        "stage": FIELD_VALUES,
        "service": FIELD_VALUES,
        "result": FIELD_VALUES,
        "status": FIELD_VALUES,
        "labels": st.dictionaries(st.sampled_from(["team", "owner"]), FIELD_VALUES, max_size=2) | FIELD_VALUES,
        "approval": st.fixed_dictionaries({}, optional={"pass": st.sampled_from(["automatic", "manual"])}),
        "evaluation": st.fixed_dictionaries({}, optional={"result": FIELD_VALUES}),
    },
)


@settings(max_examples=3000)
@given(MATCHES, TYPES, DATA)
def test_a_match_misses_as_it_did_when_it_read_every_dimension(match: Match, type_: str, data: dict) -> None:
    compiled = CompiledMatch.of(match)
    event = event_from_mapping({"id": "1", "source": "s", "type": type_, "specversion": "1.0", "data": data})
    assert compiled.miss(event) == miss_slowly(compiled, event)
