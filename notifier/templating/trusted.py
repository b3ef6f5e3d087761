"""The environment the built-in templates run in: outside the sandbox, inside the same output and time limits.

The rule, in one line: the built-in templates run here unless the templates folder replaces a built-in macro
file; every file from the templates folder runs in the sandbox (template_set.py applies it).

The built-in templates are part of the package and reviewed like its code, and the sandbox's checks on each
lookup, call and filter cost a quarter of their render time (bench/NOTES.md, `625cdfe`). This environment loads
only the package's own macro files, has the sandbox's helpers and filters (a built-in copied into the
templates folder works the same there; a test renders every built-in both ways), and fill.py keeps the
output cap and the deadline for it as for the sandbox.
"""

from __future__ import annotations

from typing import Any

from jinja2 import BaseLoader, Environment

from notifier.templating.sandbox import (
    DICT_ATTRIBUTES,
    TEMPLATE_OPTIONS,
    BoundedSandbox,
    RenderBounds,
    TemplateLimits,
    offer_helpers,
)


class TrustedEnvironment(RenderBounds, Environment):
    def __init__(self, loader: BaseLoader, limits: TemplateLimits) -> None:
        super().__init__(loader=loader, **TEMPLATE_OPTIONS)
        self.bound(limits)
        offer_helpers(self, self)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj and attribute not in DICT_ATTRIBUTES:  # see DICT_ATTRIBUTES
            return obj[attribute]
        return super().getattr(obj, attribute)


# Where a template is compiled and rendered.
TemplateEnvironment = BoundedSandbox | TrustedEnvironment
