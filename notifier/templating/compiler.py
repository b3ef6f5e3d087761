"""From a template file to compiled fields: YAML read with line marks, keys checked, every Jinja string parsed.

All of it happens once, at start-up, so that a typo stops the start with the file, the line and the fix
instead of costing a fallback message per event later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Any, Final

import yaml
from jinja2 import Template, TemplateNotFound, meta, nodes
from jinja2.exceptions import TemplateSyntaxError

from notifier.templating.sandbox import REMOVED_FILTERS, BoundedSandbox

TOP_LEVEL_KEYS: Final = ("title", "summary", "severity", "text", "facts", "links", "footer")
FACT_KEYS: Final = ("name", "value", "when")
LINK_KEYS: Final = ("title", "url", "when")
# libyaml when present: four times faster, same safe constructor, same line marks.
SAFE_YAML_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TemplateError(Exception):
    """A template set that cannot be used; the message names the file, the line if known, and the fix."""


@dataclass(frozen=True, slots=True)
class TemplateField:
    """One template string; plain text with no Jinja syntax is kept as it is, not compiled."""

    label: str
    template: Template | None
    constant: str = ""


@dataclass(frozen=True, slots=True)
class FieldPair:
    """A fact (name, value) or a link (title, url), shown only when `when` renders truthy."""

    first: TemplateField
    second: TemplateField
    when: TemplateField | None


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    name: str
    origin: str
    title: TemplateField
    summary: TemplateField | None
    severity: TemplateField | None
    text: TemplateField | None
    footer: TemplateField | None
    facts: tuple[FieldPair, ...]
    links: tuple[FieldPair, ...]


def compile_macro(env: BoundedSandbox, name: str) -> None:
    try:
        env.get_template(name)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"{exc.filename or name} line {exc.lineno}: not a valid Jinja template: {exc.message}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{name}: cannot be read ({exc})") from None


def compile_template(env: BoundedSandbox, name: str, entry: Traversable) -> CompiledTemplate:
    origin = str(entry)
    document, node = _load_yaml(entry)
    if not isinstance(document, dict) or not isinstance(node, yaml.MappingNode):
        raise TemplateError(
            f"{origin}: a template must be a YAML mapping with at least `title:` "
            f"(allowed keys: {', '.join(TOP_LEVEL_KEYS)})"
        )
    lines = _value_lines(node)
    _refuse_unknown_keys(origin, document, lines, TOP_LEVEL_KEYS, "", 1)
    if "title" not in document:
        raise TemplateError(f"{origin}: the `title:` key is missing; every template needs a title")

    def field(key: str) -> TemplateField | None:
        if key not in document:
            return None
        return _field(env, origin, key, document[key], lines[key])

    title = field("title")
    assert title is not None
    return CompiledTemplate(
        name=name,
        origin=origin,
        title=title,
        summary=field("summary"),
        severity=field("severity"),
        text=field("text"),
        footer=field("footer"),
        facts=_compile_pairs(env, origin, "facts", document.get("facts"), node, FACT_KEYS),
        links=_compile_pairs(env, origin, "links", document.get("links"), node, LINK_KEYS),
    )


def _compile_pairs(
    env: BoundedSandbox, origin: str, key: str, items: object, node: yaml.MappingNode, allowed: tuple[str, ...]
) -> tuple[FieldPair, ...]:
    if items is None:
        return ()
    list_node = next(value for name, value in node.value if name.value == key)
    if not isinstance(items, list) or not isinstance(list_node, yaml.SequenceNode):
        raise TemplateError(f"{origin} line {_line(list_node)}: `{key}` must be a list of mappings")
    first, second = allowed[0], allowed[1]
    pairs = []
    for index, (item, item_node) in enumerate(zip(items, list_node.value, strict=True)):
        label = f"{key}[{index}]"
        if not isinstance(item, dict) or not isinstance(item_node, yaml.MappingNode):
            raise TemplateError(
                f"{origin} line {_line(item_node)}: {label} must be a mapping with `{first}` and `{second}`"
            )
        lines = _value_lines(item_node)
        _refuse_unknown_keys(origin, item, lines, allowed, f" in {label}", _line(item_node))
        for required in (first, second):
            if required not in item:
                raise TemplateError(f"{origin} line {_line(item_node)}: {label} lacks `{required}`")
        when = item.get("when")
        pairs.append(
            FieldPair(
                _field(env, origin, f"{label}.{first}", item[first], lines[first]),
                _field(env, origin, f"{label}.{second}", item[second], lines[second]),
                None if when is None else _field(env, origin, f"{label}.when", when, lines["when"]),
            )
        )
    return tuple(pairs)


def _field(env: BoundedSandbox, origin: str, label: str, value: object, line: int) -> TemplateField:
    if not isinstance(value, str):
        raise TemplateError(
            f"{origin} line {line}: `{label}` must be text, not {type(value).__name__}; "
            "put the value in quotes (YAML reads an unquoted {{ ... }} as a mapping)"
        )
    if not any(marker in value for marker in ("{{", "{%", "{#")):
        return TemplateField(label, None, value)
    try:
        tree = env.parse(value)
        _check_imports(env, tree)
        template = env.from_string(tree)
    except TemplateSyntaxError as exc:
        at = line + (exc.lineno or 1) - 1
        problem = exc.message or "syntax error"
        hint = f" (removed for safety: {', '.join(REMOVED_FILTERS)})" if "filter" in problem else ""
        raise TemplateError(f"{origin} line {at}: `{label}` is not a valid Jinja template: {problem}{hint}") from None
    return TemplateField(label, template)


def _check_imports(env: BoundedSandbox, tree: nodes.Template) -> None:
    for imported in meta.find_referenced_templates(tree):
        if imported is None:
            continue
        try:
            env.get_template(imported)
        except TemplateNotFound:
            raise TemplateSyntaxError(
                f"it imports {imported!r}, which is not a `_name.j2` file in the templates folder", 1
            ) from None


def _refuse_unknown_keys(
    origin: str, mapping: dict[Any, Any], lines: Mapping[str, int], allowed: tuple[str, ...], where: str, line: int
) -> None:
    for key in mapping:
        if key not in allowed:
            raise TemplateError(
                f"{origin} line {lines.get(str(key), line)}: unknown key {key!r}{where}; "
                f"allowed keys are {', '.join(allowed)}"
            )


def yaml_files(folder: Traversable) -> dict[str, Traversable]:
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".yml"):
            raise TemplateError(f"{entry}: template files must end in .yaml; rename it")
        if entry.name.endswith(".yaml") and not entry.name.startswith("."):
            found[entry.name.removesuffix(".yaml")] = entry
    return found


def _load_yaml(entry: Traversable) -> tuple[object, yaml.Node | None]:
    try:
        source = entry.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{entry}: cannot be read ({exc})") from None
    loader = SAFE_YAML_LOADER(source)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TemplateError(
            f"{entry}{where}: not valid YAML ({problem}); check the indentation, and quote values that "
            "start with '{' or contain ': '"
        ) from None
    finally:
        loader.dispose()


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _value_lines(node: yaml.MappingNode) -> dict[str, int]:
    """The file line where each value's text starts (block scalars start on the line after `|`)."""
    lines = {}
    for key_node, value_node in node.value:
        block = isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">")
        lines[str(key_node.value)] = _line(value_node) + (1 if block else 0)
    return lines
