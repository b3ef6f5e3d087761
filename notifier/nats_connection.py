"""Connecting to NATS, for the NATS intake and the JetStream store: the first attempt's answer, in words.

nats-py reports a failed attempt only to its error callback, and with reconnecting allowed its `connect` keeps
trying forever: `connect` waits for the first attempt alone and turns its failure into `Unreachable`, so that a
caller can fail a start at once and say why. What follows is the caller's choice: with `reconnect` the client
reconnects on its own, forever (the store); without, the connection ends with its first loss and the caller
connects again in its own loop (the intake, which logs each attempt). The error callback is always given, so
that nats-py never prints an error of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from nats.aio.client import DEFAULT_MAX_OUTSTANDING_PINGS, DEFAULT_PING_INTERVAL, Client
from nats.js.errors import APIError

# One attempt's TCP connect and the server's INFO; then the whole first attempt.
CONNECT_TIMEOUT = 2
CONNECT_WAIT = 10.0
# Between two attempts of the client's own reconnecting.
RECONNECT_WAIT = 1
CLIENT_NAME = "keptn-notifier"

Callback = Callable[[], Awaitable[None]]
ErrorCallback = Callable[[Exception], Awaitable[None]]


class Unreachable(Exception):
    """The first attempt failed; the text says why: the client's error, or that the server did not answer."""


def describe(exc: BaseException) -> str:
    """An error of the client or of JetStream's API in words: its kind and what the server said."""
    detail = exc.description if isinstance(exc, APIError) and exc.description else str(exc) or repr(exc)
    return f"{type(exc).__name__}: {detail}"


async def connect(
    nc: Client,
    url: str,
    *,
    reconnect: bool,
    on_error: ErrorCallback,
    on_disconnected: Callback | None = None,
    on_reconnected: Callback | None = None,
    on_closed: Callback | None = None,
    ping_interval: int = DEFAULT_PING_INTERVAL,
    max_outstanding_pings: int = DEFAULT_MAX_OUTSTANDING_PINGS,
) -> None:
    """Connect `nc`, or raise Unreachable after the first failed attempt (nothing left running then).

    `on_error` hears the errors that come once connected; those of the first attempt are its answer.
    """
    failed: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()
    answered = False

    async def error_cb(exc: Exception) -> None:
        if answered:
            await on_error(exc)
        elif not failed.done():
            failed.set_result(exc)

    connecting = asyncio.ensure_future(
        nc.connect(
            url,
            name=CLIENT_NAME,
            connect_timeout=CONNECT_TIMEOUT,
            allow_reconnect=reconnect,
            reconnect_time_wait=RECONNECT_WAIT,
            max_reconnect_attempts=-1,
            ping_interval=ping_interval,
            max_outstanding_pings=max_outstanding_pings,
            error_cb=error_cb,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            closed_cb=on_closed,
        )
    )
    try:
        await asyncio.wait((connecting, failed), timeout=CONNECT_WAIT, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if connecting.done() and not connecting.cancelled() and connecting.exception() is None:
            answered = True
        else:
            connecting.cancel()
    if answered:
        failed.cancel()
        return
    await asyncio.gather(connecting, return_exceptions=True)
    reason: BaseException | None = failed.result() if failed.done() and not failed.cancelled() else None
    if reason is None and not connecting.cancelled():
        reason = connecting.exception()
    failed.cancel()
    with contextlib.suppress(Exception):
        await nc.close()
    raise Unreachable(describe(reason) if reason is not None else f"no answer within {CONNECT_WAIT:g} s")


async def close(nc: Client) -> None:
    """Send what is on its way (acks, naks: a second at most), then close; a connection lost already is no error."""
    with contextlib.suppress(Exception):
        await nc.flush(timeout=1)
    with contextlib.suppress(Exception):
        await nc.close()
