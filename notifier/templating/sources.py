"""Where template files come from: the packaged folders, and the only files a template may import.

A template may import or include nothing but `_name.j2` macro files directly inside a template folder, so
that no name an operator (or an event value) writes can reach another file.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final

from jinja2 import BaseLoader, TemplateNotFound

# `_name.j2` directly in a template folder: no slash, so no way to name a file anywhere else.
MACRO_FILE: Final = re.compile(r"_[A-Za-z0-9][A-Za-z0-9_-]*\.j2", re.ASCII)


def package_folder(package: str, source_folder: str) -> Traversable:
    """A data package's folder; in a source checkout that is not installed, the folder of that name."""
    try:
        return importlib.resources.files(package)
    except ModuleNotFoundError:
        # The folder sits next to the `notifier` package.
        return Path(__file__).resolve().parent.parent.parent / source_folder


class MacroLoader(BaseLoader):
    """Serves only `_*.j2` files directly inside one folder: no path can leave it."""

    def __init__(self, folder: Traversable) -> None:
        self._folder = folder

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        if not MACRO_FILE.fullmatch(template):
            raise TemplateNotFound(template)
        entry = self._folder.joinpath(template)
        if not entry.is_file():
            raise TemplateNotFound(template)
        return entry.read_text(encoding="utf-8"), str(entry), lambda: True

    def list_templates(self) -> list[str]:
        return sorted(entry.name for entry in self._folder.iterdir() if MACRO_FILE.fullmatch(entry.name))
