"""Fake Slack and Teams endpoints on 127.0.0.1 that answer like the real platforms and record every request.

In-process: `FakeChatServer().app` under pytest-aiohttp's `aiohttp_server` (see the `chat_server` fixture),
or `await FakeChatServer().start()`. As a separate process, for crash tests:

    python -m tests.fakes --port 0 --ready-file PATH

writes its base URL to PATH once listening and one JSON line per received request to stdout. A test scripts
that process over HTTP: `POST /_fake/replies` with `{"path": "/slack/x", "replies": [{"status": 429, ...}]}`,
`GET /_fake/received` for everything recorded so far.

Paths: `/slack/<anything>` is an incoming webhook (200 `ok`), `/teams/<anything>` a Workflows webhook
(202, empty body), `/api/chat.postMessage` and `/api/chat.update` the Web API (both check `Authorization:
Bearer xoxb-...`; a post answers the channel ID and a new `ts`, an update knows only what was posted).

The Web API keeps its messages by channel ID and `ts` (`messages`), as Slack does: a post with `thread_ts`
is a reply kept under its parent (`thread_not_found` for an unknown parent; a reply's own `ts` is refused as
`fake_thread_ts_is_a_reply`, which Slack would quietly accept and no caller should send), `chat.update`
answers `message_not_found` for an unknown `ts` and `cant_update_message` for a message another token
posted. `delete` removes a message as a person would; `conversation()` prints what a reader would see.
Any path can answer 429 with Retry-After: `on(path, Reply.api_error("ratelimited", 429, retry_after=1))`.
A slow platform: `answer_after(path, seconds)` answers every request on `path` that much later (the edit lands
when it is answered), and `most_updates_at_once` is the most `chat.update` calls of one message in flight at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

SLACK_WEBHOOK_PREFIX = "/slack/"
TEAMS_PREFIX = "/teams/"
SLACK_API_PREFIX = "/api/"
POST_MESSAGE = "/api/chat.postMessage"
UPDATE_MESSAGE = "/api/chat.update"
CONTROL_PREFIX = "/_fake/"
FAKE_CHANNEL_ID = "C0123"


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    # The JSON body; for a form body, its fields as a dict; None when neither.
    json: Any
    at: float  # time.monotonic() when the request arrived
    query: str = ""

    def as_json_line(self) -> str:
        record = asdict(self)
        record["body"] = self.body.decode("utf-8", "replace")
        return json.dumps(record, sort_keys=True)


@dataclass(slots=True)
class SlackMessage:
    """One message the fake Web API holds: what it shows now, who posted it, and its replies' ts."""

    channel: str
    ts: str
    token: str
    fields: dict[str, Any]
    thread_ts: str | None = None
    edits: int = 0
    replies: list[str] = field(default_factory=list)

    @property
    def shown(self) -> str:
        """The text a reader sees: the fallback text, then every text in the blocks and in the attachments' blocks
        (escapes undone)."""
        parts = [
            str(self.fields.get("text", "")),
            *_texts(self.fields.get("blocks", [])),
            *_texts(self.fields.get("attachments", [])),
        ]
        text = "\n".join(part for part in parts if part)
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["text"]] if isinstance(value.get("text"), str) else []
        return found + [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer. `delay` waits before answering; `reset` closes the connection without answering."""

    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0
    reset: bool = False

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = 2, body: str = "rate_limited") -> Reply:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return cls(status=429, body=body, headers=headers)

    @classmethod
    def server_error(cls, status: int = 500, body: str = "internal_error") -> Reply:
        return cls(status=status, body=body)

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        return cls(delay=seconds)

    @classmethod
    def connection_reset(cls) -> Reply:
        return cls(reset=True)

    @classmethod
    def slack_error(cls, status: int, code: str) -> Reply:
        """An incoming-webhook failure: Slack answers the code as the whole body."""
        return cls(status=status, body=code, headers={"Content-Type": "text/html"})

    @classmethod
    def api_error(cls, code: str, status: int = 200, retry_after: float | None = None) -> Reply:
        """A Web API failure: HTTP 200 (usually) with `{"ok": false, "error": code}`."""
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return cls(status=status, body=json.dumps({"ok": False, "error": code}), headers=headers)

    @classmethod
    def from_mapping(cls, spec: dict[str, Any]) -> Reply:
        return cls(
            status=int(spec.get("status", 200)),
            body=str(spec.get("body", "ok")),
            headers={str(k): str(v) for k, v in dict(spec.get("headers", {})).items()},
            delay=float(spec.get("delay", 0)),
            reset=bool(spec.get("reset", False)),
        )


class FakeChatServer:
    def __init__(self, on_received: Iterable[Callable[[Received], None]] = ()) -> None:
        self.url = ""
        self.received: list[Received] = []
        self._scripts: dict[str, deque[Reply]] = {}
        # By path: how long every request there waits before it is answered.
        self._slow: dict[str, float] = {}
        # By path: requests there wait until the event is set (`hold`).
        self._held: dict[str, asyncio.Event] = {}
        # The chat.update calls of each (channel, ts) not yet answered, and the most there ever were at once.
        self._updating: Counter[tuple[str, str]] = Counter()
        self.most_updates_at_once = 0
        self._arrived = asyncio.Condition()
        self._closing = asyncio.Event()
        self._next_ts = 0
        # Every message posted through the Web API, by (channel ID, ts), in the order posted.
        self.messages: dict[tuple[str, str], SlackMessage] = {}
        # The channel ID each channel asked for (an ID or a #name) is kept in; the first is FAKE_CHANNEL_ID.
        self._channel_ids: dict[str, str] = {}
        self._listeners = list(on_received)
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=4 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self.app.on_shutdown.append(self._on_shutdown)

    # -- scripting and inspection ---------------------------------------------------------------------

    def on(self, path: str, *responses: Reply) -> None:
        """Answer the next requests on `path` (no query string) with `responses`, in order, then the default."""
        self._scripts.setdefault(path, deque()).extend(responses)

    def answer_after(self, path: str, seconds: float) -> None:
        """Answer every later request on `path` `seconds` after it arrived, as a slow platform does."""
        self._slow[path] = seconds

    def hold(self, path: str) -> asyncio.Event:
        """Requests on `path` arrive (and are recorded) but get no answer until the returned event is set: a send
        kept in flight for as long as a test needs, not for a guessed number of seconds."""
        return self._held.setdefault(path, asyncio.Event())

    def received_on(self, path: str) -> list[Received]:
        return [item for item in self.received if item.path == path]

    def top_level(self, channel: str = FAKE_CHANNEL_ID) -> list[SlackMessage]:
        """The channel's messages that are not replies (run messages and plain posts), oldest first."""
        return [m for m in self.messages.values() if m.channel == channel and m.thread_ts is None]

    def replies(self, parent: SlackMessage) -> list[SlackMessage]:
        return [self.messages[(parent.channel, ts)] for ts in parent.replies]

    def delete(self, channel: str, ts: str) -> None:
        """What a person deleting a message does: it is gone, updates and replies to it fail."""
        del self.messages[(channel, ts)]

    def conversation(self, channel: str = FAKE_CHANNEL_ID) -> str:
        """The channel as a reader sees it: each top-level message, then its thread's replies indented."""
        lines = []
        for message in self.top_level(channel):
            edited = f" (edited {message.edits}x)" if message.edits else ""
            lines.append(f"[{message.ts}]{edited} " + message.shown.replace("\n", "\n    "))
            for reply in self.replies(message):
                shown = " (also sent to the channel)" if reply.fields.get("reply_broadcast") else ""
                lines.append(f"  ↳ [{reply.ts}]{shown} " + reply.shown.replace("\n", "\n      "))
        return "\n".join(lines)

    async def wait_for(self, count: int, path: str | None = None, timeout: float = 10) -> None:
        """Wait until at least `count` requests arrived (on `path`, if given)."""

        def enough() -> bool:
            seen = self.received if path is None else self.received_on(path)
            return len(seen) >= count

        async with self._arrived:
            try:
                await asyncio.wait_for(self._arrived.wait_for(enough), timeout)
            except TimeoutError:
                seen = len(self.received if path is None else self.received_on(path))
                raise AssertionError(
                    f"expected {count} request(s) on {path or 'any path'} within {timeout}s, got {seen}"
                ) from None

    # -- running on its own ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=1, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.url = f"http://{bound_host}:{bound_port}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeChatServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- answering ------------------------------------------------------------------------------------

    async def _on_shutdown(self, app: web.Application) -> None:
        # End hanging replies at once: aiohttp waits for running handlers before it closes.
        self._closing.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await self._control(request)
        body = await request.read()
        item = Received(
            path=request.path,
            headers=dict(request.headers),
            body=body,
            json=_parse_body(request.content_type, body),
            at=time.monotonic(),
            query=request.rel_url.raw_query_string,
        )
        async with self._arrived:
            self.received.append(item)
            self._arrived.notify_all()
        for listener in self._listeners:
            listener(item)

        if item.path != UPDATE_MESSAGE:
            return await self._answer(item, request)
        fields = item.json if isinstance(item.json, dict) else {}
        message = (str(fields.get("channel")), str(fields.get("ts")))
        self._updating[message] += 1
        self.most_updates_at_once = max(self.most_updates_at_once, self._updating[message])
        try:
            return await self._answer(item, request)
        finally:
            self._updating[message] -= 1

    async def _answer(self, item: Received, request: web.Request) -> web.StreamResponse:
        await self._wait(self._slow.get(item.path, 0))
        held = self._held.get(item.path)
        if held is not None:
            await _first(held.wait(), self._closing.wait())
        script = self._scripts.get(item.path)
        reply = script.popleft() if script else None
        if reply is None:
            return self._default_answer(item)
        await self._wait(reply.delay)
        if reply.reset:
            _drop_connection(request)
            # aiohttp cannot write an answer to a closed transport; it ends the request quietly.
            raise asyncio.CancelledError
        headers = dict(reply.headers)
        headers.setdefault("Content-Type", _content_type(reply.body))
        return web.Response(status=reply.status, body=reply.body.encode(), headers=headers)

    async def _wait(self, seconds: float) -> None:
        if seconds:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), seconds)

    def _default_answer(self, item: Received) -> web.Response:
        if item.path.startswith(SLACK_WEBHOOK_PREFIX):
            return web.Response(status=200, text="ok", content_type="text/html")
        if item.path.startswith(TEAMS_PREFIX):
            return web.Response(status=202)
        if item.path == POST_MESSAGE:
            return self._post_message(item)
        if item.path == UPDATE_MESSAGE:
            return self._update_message(item)
        if item.path.startswith(SLACK_API_PREFIX):
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.Response(status=404, text="no fake endpoint here", content_type="text/plain")

    def _channel_id(self, requested: str) -> str:
        if requested in self._channel_ids.values():
            return requested
        if requested not in self._channel_ids:
            self._channel_ids[requested] = f"C{int(FAKE_CHANNEL_ID[1:]) + len(self._channel_ids):04d}"
        return self._channel_ids[requested]

    def _post_message(self, item: Received) -> web.Response:
        fields, refused = _api_call(item)
        if refused is not None:
            return refused
        channel = self._channel_id(str(fields["channel"]))
        thread_ts = fields.get("thread_ts") or None
        parent = self.messages.get((channel, str(thread_ts))) if thread_ts else None
        if thread_ts and parent is None:
            return web.json_response({"ok": False, "error": "thread_not_found"})
        if parent is not None and parent.thread_ts is not None:
            return web.json_response({"ok": False, "error": "fake_thread_ts_is_a_reply"})
        self._next_ts += 1
        ts = f"{1_700_000_000 + self._next_ts}.{self._next_ts:06d}"
        self.messages[(channel, ts)] = SlackMessage(channel, ts, _token(item), dict(fields), thread_ts)
        if parent is not None:
            parent.replies.append(ts)
        return web.json_response({"ok": True, "channel": channel, "ts": ts, "message": fields})

    def _update_message(self, item: Received) -> web.Response:
        fields, refused = _api_call(item)
        if refused is not None:
            return refused
        # Slack needs the channel ID here (not a #name), and knows only messages that were posted.
        message = self.messages.get((str(fields.get("channel")), str(fields.get("ts"))))
        if message is None:
            return web.json_response({"ok": False, "error": "message_not_found"})
        if message.token != _token(item):
            return web.json_response({"ok": False, "error": "cant_update_message"})
        message.fields = {**message.fields, **{k: v for k, v in fields.items() if k not in ("channel", "ts")}}
        message.edits += 1
        return web.json_response(
            {"ok": True, "channel": fields["channel"], "ts": fields["ts"], "text": fields.get("text", "")}
        )

    async def _control(self, request: web.Request) -> web.Response:
        if request.path == "/_fake/received" and request.method == "GET":
            return web.json_response([json.loads(item.as_json_line()) for item in self.received])
        if request.path == "/_fake/replies" and request.method == "POST":
            spec = await request.json()
            self.on(str(spec["path"]), *(Reply.from_mapping(reply) for reply in spec.get("replies", [])))
            return web.json_response({"ok": True})
        return web.json_response({"error": "GET /_fake/received or POST /_fake/replies"}, status=404)


def _api_call(item: Received) -> tuple[dict[str, Any], web.Response | None]:
    """The call's fields, or the answer Slack gives a call without a bot token, a channel or any text."""
    auth = item.headers.get("Authorization", "")
    fields = item.json if isinstance(item.json, dict) else {}
    if not auth.startswith("Bearer "):
        return fields, web.json_response({"ok": False, "error": "not_authed"})
    if not auth.removeprefix("Bearer ").startswith("xoxb-"):
        return fields, web.json_response({"ok": False, "error": "invalid_auth"})
    if not fields.get("channel"):
        return fields, web.json_response({"ok": False, "error": "channel_not_found"})
    if not (fields.get("text") or fields.get("blocks") or fields.get("attachments")):
        return fields, web.json_response({"ok": False, "error": "no_text"})
    return fields, None


def _token(item: Received) -> str:
    return item.headers.get("Authorization", "").removeprefix("Bearer ")


def _parse_body(content_type: str, body: bytes) -> Any:
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _content_type(body: str) -> str:
    # Slack answers its webhooks as text/html and the Web API as JSON.
    return "application/json; charset=utf-8" if body.lstrip().startswith(("{", "[")) else "text/html"


async def _first(*waits: Coroutine[Any, Any, object]) -> None:
    """Wait until the first of `waits` is done; the others are cancelled."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _drop_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def assert_no_secret(text: str, secrets: Iterable[str]) -> None:
    """Fail when any credential (URL, URL path, token, sig= value) shows up in text that leaves the process."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            assert secret not in text, f"a credential leaked ({secret[:4]}…): {text[:300]!r}"


# -- standalone process ------------------------------------------------------------------------------


def _print_received(item: Received) -> None:
    sys.stdout.write(item.as_json_line() + "\n")
    sys.stdout.flush()


async def _serve(host: str, port: int, ready_file: Path | None) -> None:
    fake = FakeChatServer(on_received=[_print_received])
    url = await fake.start(host, port)
    if ready_file is not None:
        # Written whole, then renamed: a reader never sees half a URL.
        partial = ready_file.with_name(ready_file.name + ".partial")
        partial.write_text(url + "\n")
        os.replace(partial, ready_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ready-file", type=Path, help="where to write the base URL once listening")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port, args.ready_file))


if __name__ == "__main__":
    main()
