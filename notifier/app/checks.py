"""A route's own template must exist: a missing one stops start-up, and `check` reports it the same way."""

from __future__ import annotations

from notifier.config.load import Config, ConfigError
from notifier.suggest import did_you_mean
from notifier.templating import TemplateSet


def missing_route_templates(config: Config, templates: TemplateSet) -> list[str]:
    """One line per route whose `template` names no template file, with where to put it."""
    folder = config.settings.templates_dir
    problems = []
    for route in config.routes:
        if route.template is None or templates.has(route.template):
            continue
        file = f"{route.template}.yaml"
        where = f"add {file} to {folder}" if folder else f"set TEMPLATES_DIR to the folder with {file}"
        problems.append(
            f"route {route.name}: template {route.template!r} does not exist"
            f"{did_you_mean(route.template, templates.names())} ({where}, or fix the route's template)"
        )
    return problems


def require_route_templates(config: Config, templates: TemplateSet) -> None:
    """Stop start-up when a route names a template that does not exist: a config error (docs/configuration.md)."""
    problems = missing_route_templates(config, templates)
    if problems:
        raise ConfigError(f"{config.origin}: " + "; ".join(problems))
