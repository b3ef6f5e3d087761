"""`keptn-notifier serve`: run the service."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from notifier.app.logs import setup_logging
from notifier.cli.common import (
    EXIT_OK,
    CliError,
    Commands,
    command,
    config_of,
    run_async,
    templates_of,
)
from notifier.redact import Redactor


def add(commands: Commands) -> None:
    serve = command(commands, "serve", "run the service", run)
    serve.add_argument("--host", help="bind address of the event port (default $NOTIFIER_HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="event port (default $PORT or 8080)")
    serve.add_argument("--admin-port", type=int, help="separate port for /health, /ready, /metrics")
    serve.add_argument("--state-dir", help="where the outbox lives (default $NOTIFIER_STATE_DIR or ./notifier-state)")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from notifier.app.reload import ConfigSource
    from notifier.app.service import serve

    flags = {"host": args.host, "port": args.port, "admin_port": args.admin_port, "state_dir": args.state_dir}
    config = config_of(args, env, **flags)
    redact = Redactor(config.secrets())
    setup_logging(config.settings.log_level, redact)
    templates = templates_of(config)
    # A reload reads the same file, environment and flags again.
    source = ConfigSource(args.config, dict(env), flags)
    try:
        run_async(serve(config, templates, source, redact))
    except OSError as exc:  # a port in use, an address that is not this host's
        raise CliError(redact(f"cannot start the service: {exc}")) from None
    return EXIT_OK
