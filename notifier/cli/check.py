"""`keptn-notifier check`: the config, and every template rendered against the sample events."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from notifier.app.checks import check_templates
from notifier.cli.common import EXIT_FAILED, EXIT_OK, Commands, command, config_of
from notifier.redact import Redactor
from notifier.templating import TemplateError


def add(commands: Commands) -> None:
    command(commands, "check", "validate the config and render every template against the sample events", run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    # Exit 2 for a config error (raised here, worded by main), 1 for template problems, listed one a line.
    config = config_of(args, env)
    redact = Redactor(config.secrets())
    for warning in config.warnings:
        print(redact(f"warning: {warning}"))
    try:
        checked = check_templates(config)
    except TemplateError as exc:
        print(redact(f"problem: {exc}"))
        print("check failed: 1 problem(s)")
        return EXIT_FAILED
    for warning in checked.warnings:
        print(redact(f"warning: {warning}"))
    problems = checked.problems
    if problems:
        for problem in problems:
            print(redact(f"problem: {problem}"))
        print(f"check failed: {len(problems)} problem(s)")
        return EXIT_FAILED
    print(
        f"ok: {len(config.channels)} channel(s), {len(config.routes)} route(s), "
        f"{len(checked.templates.names())} template(s) rendered against the sample events ({config.origin})"
    )
    return EXIT_OK
