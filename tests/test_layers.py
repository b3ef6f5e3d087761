"""The house's import rules: a package imports only packages below it, and no module imports itself around.

Read from the source (every `import` and `from ... import`, also inside functions and `TYPE_CHECKING`), so a
lazy or type-only import that runs up counts like any other. docs/design.md draws the same layers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "notifier"
# Lowest first. A unit (a package of notifier/, or a module at its top) may import units of lower layers only;
# the units of one layer know nothing of each other.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"notifier", "clock", "message", "redact", "metrics", "units", "suggest", "nats_connection"}),
    frozenset({"keptn"}),
    frozenset({"store", "channels", "render", "templating", "runs"}),
    frozenset({"noise"}),
    frozenset({"config"}),
    frozenset({"silences"}),
    frozenset({"intake", "delivery"}),
    frozenset({"pipeline"}),
    frozenset({"app", "preview"}),
    frozenset({"cli"}),
    frozenset({"__main__"}),
)
# Data packages: files, no code.
DATA = frozenset({"templates", "samples"})


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if DATA & set(relative.parts):
            continue
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        yield ".".join(parts), path


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "notifier"


@cache
def imports_of(path: Path) -> tuple[str, ...]:
    """Every notifier module the file imports (`from notifier import x` names the module x when it is one)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "notifier"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "notifier":
            found.append(node.module)
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                if name in MODULES:
                    found.append(name)
    return tuple(found)


MODULES = dict(modules())


def layer_of(unit: str) -> int:
    return next(index for index, layer in enumerate(LAYERS) if unit in layer)


def violations() -> list[str]:
    wrong = []
    for module, path in MODULES.items():
        unit = unit_of(module)
        for imported in imports_of(path):
            other = unit_of(imported)
            if other != unit and other in DATA:
                continue
            if other != unit and layer_of(other) >= layer_of(unit):
                wrong.append(f"{module} imports {imported}: {unit} may not import {other}")
    return wrong


def test_every_package_and_top_module_has_a_layer() -> None:
    units = {unit_of(module) for module in MODULES}
    placed = set().union(*LAYERS)
    assert units - placed == set(), "place each new package or top-level module in LAYERS (and docs/design.md)"
    assert placed - units == set(), "LAYERS names a unit that no longer exists"
    # At most about a dozen modules at the top, each a leaf every layer may use.
    top = [path.name for path in MODULES.values() if path.parent == PACKAGE and path.name != "__init__.py"]
    assert len(top) <= 12, top


def test_nothing_imports_a_package_of_its_own_layer_or_above() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("store", "delivery"),
        ("store", "pipeline"),
        ("store", "config"),
        ("render", "channels"),
        ("keptn", "noise"),
        ("keptn", "pipeline"),
        ("config", "pipeline"),
        ("noise", "delivery"),
        ("runs", "delivery"),
        ("intake", "pipeline"),
    ],
)
def test_the_rules_the_issue_named_hold(lower: str, higher: str) -> None:
    """A few of the layers' consequences, spelled out: each pair is one the code once broke or nearly did."""
    offending = [
        f"{module} imports {imported}"
        for module, path in MODULES.items()
        if unit_of(module) == lower
        for imported in imports_of(path)
        if unit_of(imported) == higher
    ]
    assert offending == []


def test_no_module_imports_itself_around_a_circle() -> None:
    graph = {module: {i for i in imports_of(path) if i in MODULES and i != module} for module, path in MODULES.items()}
    circles = [component for component in _components(graph) if len(component) > 1]
    assert circles == []


def test_the_rules_catch_an_import_that_runs_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is not vacuous: a store module that imports the delivery is reported."""
    planted = tmp_path / "planted.py"
    planted.write_text("from notifier.delivery.worker import LEASE\n", encoding="utf-8")
    monkeypatch.setitem(MODULES, "notifier.store.planted", planted)
    assert violations() == [
        "notifier.store.planted imports notifier.delivery.worker: store may not import delivery",
    ]


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    found.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_test_module_imports_another() -> None:
    """What tests share lives in tests/ beside them (helpers, fakes, strategies), never in a test module."""
    importing = []
    for path in sorted(PACKAGE.parent.joinpath("tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and module.startswith("tests.") and module.split(".")[-1].startswith("test_"):
                importing.append(f"{path.name} imports {module}")
    assert importing == []
