"""Writes on the admin port need `Authorization: Bearer <NOTIFIER_ADMIN_TOKEN>`; reads stay open, like /metrics.

Without the variable set, writes are off (403, saying how to turn them on): the admin port is what Prometheus
and the probes reach, so nothing on it may change the service unless the operator chose a token.
"""

from __future__ import annotations

import hmac

from aiohttp import web

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="keptn-notifier admin"'}


def refusal(request: web.Request, token: str | None, action: str) -> web.Response | None:
    """The answer that refuses `request` (403 without a token configured, 401 without the right one), or None."""
    if not token:
        return web.json_response(
            {
                "error": f"{action} is disabled: set NOTIFIER_ADMIN_TOKEN (from a Secret) and send "
                "'Authorization: Bearer <token>'"
            },
            status=403,
        )
    supplied = request.headers.get("Authorization", "")
    if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
        return web.json_response(
            {"error": f"{action} needs 'Authorization: Bearer <NOTIFIER_ADMIN_TOKEN>': missing or wrong token"},
            status=401,
            headers=CHALLENGE,
        )
    return None
