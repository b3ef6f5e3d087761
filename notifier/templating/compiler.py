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

from notifier.templating.names import Field, unknown_names
from notifier.templating.sandbox import REMOVED_FILTERS
from notifier.templating.single_pass import Gated, field_body, join_fields
from notifier.templating.trusted import TemplateEnvironment

TOP_LEVEL_KEYS: Final = ("title", "summary", "severity", "text", "facts", "links", "footer")
FACT_KEYS: Final = ("name", "value", "when")
LINK_KEYS: Final = ("title", "url", "when")
# libyaml when present: four times faster, same safe constructor, same line marks.
SAFE_YAML_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TemplateError(Exception):
    """A template set that cannot be used; the message names the file, the line if known, and the fix."""


@dataclass(frozen=True, slots=True)
class TemplateField:
    """One template string: its name for error messages, and its place among the file's fields."""

    label: str
    index: int


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
    # Every field above in one Jinja template, FIELD_END after each (notifier/templating/single_pass.py), in
    # the order fill_message reads them: title, severity, facts, links, summary, text, footer.
    template: Template
    labels: tuple[str, ...]  # the fields, in that order
    gates: tuple[bool, ...]  # per field: a `when`, whose falsy text leaves out the two fields after it
    constants: tuple[bool, ...]  # per field: plain text, no Jinja syntax
    environment: TemplateEnvironment  # where it was compiled, and renders
    # Names it reads that the template context never has, one line each (notifier/templating/names.py).
    warnings: tuple[str, ...] = ()


def compile_macro(env: TemplateEnvironment, name: str) -> None:
    try:
        env.get_template(name)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"{exc.filename or name} line {exc.lineno}: not a valid Jinja template: {exc.message}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{name}: cannot be read ({exc})") from None


def compile_template(env: TemplateEnvironment, name: str, entry: Traversable) -> CompiledTemplate:
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
    parser = _FieldParser(env, origin)

    def field(key: str) -> _Parsed | None:
        return parser.parse(key, document[key], lines[key]) if key in document else None

    # Parsed in the order of old, so that of two broken fields the same one is named.
    title, summary, severity, text, footer = (field(key) for key in ("title", "summary", "severity", "text", "footer"))
    assert title is not None
    facts = _parse_pairs(parser, "facts", document.get("facts"), node, FACT_KEYS)
    links = _parse_pairs(parser, "links", document.get("links"), node, LINK_KEYS)
    # Laid out in the order fill_message reads them (see CompiledTemplate.template).
    layout = _Layout()
    title_field = layout.add(title)
    severity_field = layout.add(severity)
    fact_pairs = tuple(layout.add_pair(pair) for pair in facts)
    link_pairs = tuple(layout.add_pair(pair) for pair in links)
    summary_field, text_field, footer_field = layout.add(summary), layout.add(text), layout.add(footer)
    assert title_field is not None
    template = parser.join(layout.parts)  # first: an error only compiling finds is named here, as ever
    unknown = sorted(unknown_names(parser.fields, env.globals), key=lambda found: found.line)
    return CompiledTemplate(
        name=name,
        origin=origin,
        title=title_field,
        summary=summary_field,
        severity=severity_field,
        text=text_field,
        footer=footer_field,
        facts=fact_pairs,
        links=link_pairs,
        template=template,
        labels=tuple(layout.labels),
        gates=tuple(layout.gates),
        constants=tuple(layout.constants),
        environment=env,
        warnings=tuple(found.message(origin) for found in unknown),
    )


@dataclass(frozen=True, slots=True)
class _Parsed:
    label: str
    body: list[nodes.Node]
    constant: bool


@dataclass(frozen=True, slots=True)
class _ParsedPair:
    first: _Parsed
    second: _Parsed
    when: _Parsed | None


class _Layout:
    """The fields of one file in the joined template's order, each with its place."""

    def __init__(self) -> None:
        self.parts: list[list[nodes.Node] | Gated] = []
        self.labels: list[str] = []
        self.gates: list[bool] = []
        self.constants: list[bool] = []

    def add(self, parsed: _Parsed | None) -> TemplateField | None:
        if parsed is None:
            return None
        self.parts.append(parsed.body)
        return self._place(parsed, gate=False)

    def add_pair(self, pair: _ParsedPair) -> FieldPair:
        if pair.when is None:
            first, second = self.add(pair.first), self.add(pair.second)
            assert first is not None and second is not None
            return FieldPair(first, second, None)
        self.parts.append(Gated(pair.when.body, pair.first.body, pair.second.body))
        when = self._place(pair.when, gate=True)
        return FieldPair(self._place(pair.first, gate=False), self._place(pair.second, gate=False), when)

    def _place(self, parsed: _Parsed, gate: bool) -> TemplateField:
        self.labels.append(parsed.label)
        self.gates.append(gate)
        self.constants.append(parsed.constant)
        return TemplateField(parsed.label, len(self.labels) - 1)


class _FieldParser:
    """Parses the fields of one file one by one, so that an error names the field and its line, then joins them."""

    def __init__(self, env: TemplateEnvironment, origin: str) -> None:
        self.origin = origin
        self._env = env
        self._sources: list[tuple[str, str, int]] = []
        self.fields: list[Field] = []  # the parsed ones, for the check of the names they use

    def parse(self, label: str, value: object, line: int) -> _Parsed:
        if not isinstance(value, str):
            raise TemplateError(
                f"{self.origin} line {line}: `{label}` must be text, not {type(value).__name__}; "
                "put the value in quotes (YAML reads an unquoted {{ ... }} as a mapping)"
            )
        if not any(marker in value for marker in ("{{", "{%", "{#")):
            return _Parsed(label, field_body(value, None), constant=True)
        self._sources.append((label, value, line))
        try:
            tree = self._env.parse(value)
            _check_imports(self._env, tree)
            if tree.find(nodes.Extends) is not None or tree.find(nodes.Block) is not None:
                raise TemplateSyntaxError("{% extends %} and {% block %} have no use in a template field", 1)
        except TemplateSyntaxError as exc:
            raise self._error(label, line, exc) from None
        self.fields.append(Field(label, line, tree))
        return _Parsed(label, field_body(value, tree), constant=False)

    def join(self, order: list[list[nodes.Node] | Gated]) -> Template:
        try:
            return join_fields(self._env, order)
        except TemplateSyntaxError as joined:
            # An error only compiling finds (an unknown filter or test): compile the fields alone to name it.
            for label, source, line in self._sources:
                try:
                    self._env.from_string(source)
                except TemplateSyntaxError as exc:
                    raise self._error(label, line, exc) from None
            raise TemplateError(f"{self.origin}: the fields do not compile together: {joined.message}") from None

    def _error(self, label: str, line: int, exc: TemplateSyntaxError) -> TemplateError:
        at = line + (exc.lineno or 1) - 1
        problem = exc.message or "syntax error"
        hint = f" (removed for safety: {', '.join(REMOVED_FILTERS)})" if "filter" in problem else ""
        return TemplateError(f"{self.origin} line {at}: `{label}` is not a valid Jinja template: {problem}{hint}")


def _parse_pairs(
    parser: _FieldParser, key: str, items: object, node: yaml.MappingNode, allowed: tuple[str, ...]
) -> list[_ParsedPair]:
    if items is None:
        return []
    origin = parser.origin
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
            _ParsedPair(
                parser.parse(f"{label}.{first}", item[first], lines[first]),
                parser.parse(f"{label}.{second}", item[second], lines[second]),
                None if when is None else parser.parse(f"{label}.when", when, lines["when"]),
            )
        )
    return pairs


def _check_imports(env: TemplateEnvironment, tree: nodes.Template) -> None:
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
