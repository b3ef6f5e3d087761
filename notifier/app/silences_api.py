"""Silences over HTTP on the admin port: `GET` and `POST /api/v1/silences`, `DELETE /api/v1/silences/{id}`.

Reads are open, like /metrics. Writes need `Authorization: Bearer <NOTIFIER_ADMIN_TOKEN>`; without that variable
they are off (403, saying how to turn them on), and a missing or wrong token answers 401. Bad input answers 400
with everything that is wrong with it. A silence added or expired here applies on this replica at once and on
the others at their next read of the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

import orjson
from aiohttp import web

from notifier.app.admin_token import refusal
from notifier.clock import Clock
from notifier.config.load import Config
from notifier.silences.active import ActiveSilences
from notifier.silences.listing import listing
from notifier.silences.reach import reach
from notifier.silences.silence import SilenceError, new_silence, parse_span, parse_when, timestamp
from notifier.store.protocol import SilenceStore, StoreError
from notifier.suggest import closest

log = logging.getLogger("notifier.silences")
PATH: Final = "/api/v1/silences"
# What a POST may hold (Alertmanager's names, and `duration`, `drop`, `all` of this service's own).
FIELDS: Final = ("matchers", "startsAt", "endsAt", "duration", "comment", "createdBy", "drop", "all")
MAX_BODY = 64 * 1024


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


class SilencesApi:
    def __init__(
        self, silences: ActiveSilences, store: SilenceStore, config: Callable[[], Config], clock: Clock
    ) -> None:
        """`config` is the config in force (routes for what a silence can touch, the token, the longest silence)."""
        self._silences = silences
        self._store = store
        self._config = config
        self._clock = clock

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(PATH, self.list)
        router.add_post(PATH, self.add)
        router.add_delete(PATH + "/{id}", self.expire)

    async def list(self, request: web.Request) -> web.Response:
        try:
            listed = await listing(self._store, self._clock.time())
        except StoreError as exc:
            return _error(503, f"cannot read the silences: {exc}", **{"Retry-After": "5"})
        return web.json_response([one.as_json() for one in listed])

    async def add(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await request.read()
        if len(body) > MAX_BODY:
            return _error(413, f"the body is larger than {MAX_BODY} bytes")
        config = self._config()
        now = self._clock.time()
        try:
            silence = new_silence(**_fields(body, now), now=now, max_duration=config.settings.silence_max_duration)
        except SilenceError as exc:
            return _error(400, str(exc))
        try:
            await self._silences.add(silence)
        except StoreError as exc:
            return _error(503, f"cannot save the silence: {exc}", **{"Retry-After": "5"})
        touched = reach(silence, config.routes, config.settings)
        log.info("silence %s added by %s: %s", silence.id, silence.created_by, ", ".join(silence.written) or "all")
        answer: dict[str, Any] = {"silenceID": silence.id, "touches": {r: list(c) for r, c in touched.touches.items()}}
        if not touched.touches:
            answer["warning"] = touched.describe()[0]
        return web.json_response(answer)

    async def expire(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        silence = request.match_info["id"]
        try:
            ended = await self._silences.expire(silence)
        except StoreError as exc:
            return _error(503, f"cannot expire the silence: {exc}", **{"Retry-After": "5"})
        if ended is None:
            return _error(404, f"no silence {silence}: GET {PATH} lists them")
        log.info("silence %s expired", silence)
        return web.json_response({"silenceID": ended.id, "endsAt": timestamp(ended.ends)})

    def _refused(self, request: web.Request) -> web.Response | None:
        # The token in force: a reload that changes it applies to the next request.
        return refusal(request, self._config().settings.admin_token, "writing silences over HTTP")


def _fields(body: bytes, now: float) -> dict[str, Any]:
    """`new_silence`'s arguments from a POST body; SilenceError with everything wrong with it."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SilenceError(f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise SilenceError('the body must be a JSON object, e.g. {"matchers": ["stage=production"], ...}')
    problems = []
    for name in document:
        if name not in FIELDS:
            guess = closest(name, FIELDS)
            hint = f" (did you mean {guess!r}?)" if guess else ""
            problems.append(f"unknown field {name!r}{hint}: the fields are {', '.join(FIELDS)}")
    matchers = document.get("matchers", [])
    if not isinstance(matchers, list) or not all(isinstance(matcher, str) for matcher in matchers):
        problems.append('matchers must be a list of strings, e.g. ["stage=production", "service=carts"]')
        matchers = []
    texts = {name: document.get(name) for name in ("startsAt", "endsAt", "duration", "comment", "createdBy")}
    problems += [f"{name} must be a string" for name, value in texts.items() if not isinstance(value, str | None)]
    flags = {name: document.get(name, False) for name in ("drop", "all")}
    problems += [f"{name} must be true or false" for name, value in flags.items() if not isinstance(value, bool)]
    if problems:
        raise SilenceError("; ".join(problems))
    ends_at, duration, starts_at = texts["endsAt"], texts["duration"], texts["startsAt"]
    starts = None if starts_at is None else parse_when(starts_at, now)
    if (ends_at is None) == (duration is None):
        raise SilenceError("give either endsAt (e.g. 2026-11-20T18:00:00Z) or duration (e.g. 2h), not both or neither")
    ends = parse_when(ends_at, now) if ends_at is not None else (starts or now) + parse_span(str(duration))
    return {
        "matchers": matchers,
        "ends": ends,
        "starts": starts,
        "created_by": texts["createdBy"] or "",
        "comment": texts["comment"] or "",
        "drop": flags["drop"],
        "everything": flags["all"],
        "all_flag": '"all": true',
    }
