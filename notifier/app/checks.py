"""The checks a config and its templates must pass: start-up stops on a route whose template is missing, and
`check` and a live reload run them all (templates compiled, rendered against the sample events, route templates
present), so a reload never takes what `check` refuses."""

from __future__ import annotations

from dataclasses import dataclass

from notifier.config.load import Config
from notifier.config.source import ConfigError
from notifier.suggest import did_you_mean
from notifier.templating import TemplateLimits, TemplateSet, load_samples


@dataclass(frozen=True, slots=True)
class Checked:
    templates: TemplateSet
    # One line each, as `check` prints them after `problem: ` and `warning: `. A template's problem names its
    # file; a route's names the route, in the config file (`config.origin`).
    template_problems: tuple[str, ...]
    route_problems: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def problems(self) -> tuple[str, ...]:
        return self.template_problems + self.route_problems


def check_templates(config: Config) -> Checked:
    """Compile the config's templates and check them; raises TemplateError when they do not compile."""
    templates = TemplateSet(config.settings.templates_dir, config.settings.bridge_url, TemplateLimits())
    return Checked(
        templates,
        tuple(templates.check(load_samples())),
        tuple(missing_route_templates(config, templates)),
        tuple(templates.warnings()),
    )


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
