"""The template set: the built-in templates with the user's files laid over them, compiled once, and the one
place that renders an event into a Message.

Rendering never raises: a broken template costs one plain fallback message and an ERROR log line on the
logger `notifier.templating`, never a lost notification.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType

from jinja2 import ChoiceLoader

from notifier.keptn.context import template_context
from notifier.keptn.events import KeptnEvent
from notifier.keptn.kinds import template_candidates
from notifier.message import Message
from notifier.templating.compiler import TemplateError, compile_macro, compile_template, yaml_files
from notifier.templating.fallback import fallback_message
from notifier.templating.fill import fill_message, one_line
from notifier.templating.sandbox import DEFAULT_LIMITS, BoundedSandbox, TemplateLimits
from notifier.templating.sources import MacroLoader, package_folder
from notifier.templating.trusted import TemplateEnvironment, TrustedEnvironment

# The package's name, as before the split: operators filter logs on it (docs/templates.md).
LOGGER = logging.getLogger("notifier.templating")
# Event types whose template choice is remembered: a deployment sends a few dozen.
CHOICES_KEPT = 1024


class TemplateSet:
    """The built-in templates with the user's files laid over them, compiled once."""

    def __init__(self, user_dir: Path | None, bridge_url: str = "", limits: TemplateLimits = DEFAULT_LIMITS) -> None:
        self._bridge_url = bridge_url
        package = package_folder("notifier.templates", "notifier/templates")
        folders: list[Traversable] = [package]
        user_folder = None
        if user_dir is not None:
            user_folder = Path(user_dir)
            if not user_folder.is_dir():
                raise TemplateError(
                    f"{user_folder}: the templates directory does not exist or is not a directory; "
                    "create it or fix the templates path in the configuration"
                )
            folders.insert(0, user_folder)
        sandbox = BoundedSandbox(ChoiceLoader([MacroLoader(folder) for folder in folders]), limits)
        trusted = _trusted_environment(package, user_folder, limits)
        files: dict[str, tuple[Traversable, TemplateEnvironment]] = {}
        for folder in folders:  # the user's folder first: its file of a name wins, and its errors show first
            env = trusted if folder is package and trusted is not None else sandbox
            for name, entry in yaml_files(folder).items():
                files.setdefault(name, (entry, env))
        for folder in folders:
            for macro in MacroLoader(folder).list_templates():
                compile_macro(sandbox, macro)
        compiled = {name: compile_template(env, name, entry) for name, (entry, env) in files.items()}
        self._templates = MappingProxyType(dict(sorted(compiled.items())))
        if "default" not in self._templates:
            raise TemplateError("no `default` template: the built-in templates are missing from the install")
        self._chosen: dict[str, str] = {}

    def names(self) -> tuple[str, ...]:
        return tuple(self._templates)

    def has(self, name: str) -> bool:
        return name in self._templates

    def select(self, event_type: str) -> str:
        chosen = self._chosen.get(event_type)
        if chosen is None:
            chosen = next((name for name in template_candidates(event_type) if name in self._templates), "default")
            if len(self._chosen) < CHOICES_KEPT:  # event types come from outside: keep a bounded few
                self._chosen[event_type] = chosen
        return chosen

    def render(self, event: KeptnEvent, template: str | None = None) -> Message:
        """The message for `event`; on any template failure a plain fallback message and an ERROR log."""
        name = template if template is not None else "default"
        try:
            name = template if template is not None else self.select(event.type)
            return self._render(name, event)
        except Exception as exc:
            reason = _reason(exc)
            LOGGER.error(
                "template %r failed, sending the plain fallback message instead: %s",
                name,
                reason,
                extra={"template": name, "keptnContext": event.keptn_context},
            )
            return fallback_message(event, f"template {name!r} failed: {reason}", self._bridge_url)

    def warnings(self) -> list[str]:
        """Names the templates read that the template context never has: each renders empty, so start-up and
        `check` say so, without failing."""
        return [warning for compiled in self._templates.values() for warning in compiled.warnings]

    def check(self, samples: Sequence[KeptnEvent]) -> list[str]:
        """Render each template against the samples it would be chosen for; one line per problem."""
        problems = []
        for name, compiled in self._templates.items():
            for sample in samples:
                if name != "default" and name not in template_candidates(sample.type):
                    continue
                try:
                    self._render(name, sample)
                except Exception as exc:
                    problems.append(
                        f"{compiled.origin}: fails for a {sample.type} event (sample id {sample.id}): {_reason(exc)}"
                    )
        return problems

    def _render(self, name: str, event: KeptnEvent) -> Message:
        compiled = self._templates.get(name)
        if compiled is None:
            raise LookupError(f"there is no template named {name!r}; known: {', '.join(self._templates)}")
        return fill_message(compiled, template_context(event, self._bridge_url))


def _trusted_environment(
    package: Traversable, user_folder: Path | None, limits: TemplateLimits
) -> TrustedEnvironment | None:
    """The one rule of trust: the built-in templates run outside the sandbox unless the user's folder replaces a
    built-in macro file (they import it, and would then run the user's file); see notifier/templating/trusted.py."""
    built_in = set(MacroLoader(package).list_templates())
    if user_folder is not None and built_in & set(MacroLoader(user_folder).list_templates()):
        return None
    return TrustedEnvironment(MacroLoader(package), limits)


def _reason(exc: BaseException) -> str:
    return one_line(str(exc) or type(exc).__name__)[:300]
