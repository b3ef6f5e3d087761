"""The image's HEALTHCHECK: `python -m notifier.app.healthcheck` asks /health where `serve` put it.

It reads the settings the way `serve` does (the environment, then NOTIFIER_CONFIG's `settings:`), so that an
empty NOTIFIER_ADMIN_PORT means the event port here as there, and a port set in the YAML file is the one asked.
It reads only the settings: a live edit that breaks a channel or a route leaves the service running on its last
good config, healthy, and reading the rest would cost the channel types' imports on every probe.
Exit 0 when /health answers 2xx; else 1, with the reason on stderr, which Docker keeps in the health log.
"""

from __future__ import annotations

import http.client
import os
import sys
from collections.abc import Mapping

from notifier.config.source import ConfigError, load_settings

TIMEOUT_SECONDS = 4.0
# A server bound to every address answers on loopback; http.client ignores HTTP(S)_PROXY, so no proxy set for
# Slack and Teams can capture the request.
LOOPBACK = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104


def problem(env: Mapping[str, str]) -> str | None:
    """None when the service says it is healthy, else why it is not."""
    try:
        settings = load_settings(env)
    except ConfigError as exc:
        return f"the settings do not load, so the service's port is unknown: {exc}"
    bound, port = settings.admin_address
    if port == 0:
        return "the admin port is 0 (any free port), which nothing outside the service can know: set a port"
    host = LOOPBACK.get(bound, bound)
    url = f"http://{host}:{port}/health" if ":" not in host else f"http://[{host}]:{port}/health"
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/health")
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return f"no answer from {url}: {exc}"
    finally:
        connection.close()
    return None if 200 <= status < 300 else f"{url} answered HTTP {status}"


def main() -> int:
    found = problem(os.environ)
    if found is not None:
        print(f"unhealthy: {found}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
