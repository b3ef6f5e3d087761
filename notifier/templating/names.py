"""Names a template uses that its context never has.

A typo such as `{{ projet }}` or `{{ evalution.score }}` renders empty instead of failing (missing names are
undefined, by design: an event may lack any field), so a template with one passes `check` and sends blank facts.
The names a template may use are the keys of `TemplateContext` (notifier/keptn/context.py), typed key by key;
compiling a template lists every name it reads from the context that is not one of them, and every key looked
up in a typed value that the type lacks (`evaluation.scroe`), with the line and the name it was probably meant
to be. Start-up logs them as warnings and `check` prints them; neither fails on them.

Names the template sets ({% set %}, loop variables, macro arguments, imports) are its own; a name it reads
and never sets must come from the context, and Jinja's own analysis (`jinja2.meta.find_undeclared_variables`)
confirms each one before it is named. A chain of lookups is followed through the TypedDicts as far as the types
are known, and a loop over a typed list (`{% for i in evaluation.failed %}`) gives its variable the list's item
type. Whatever is not typed (`data`, `event`, a filter's result) is taken as it comes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, get_args, get_origin, get_type_hints, is_typeddict

from jinja2 import meta, nodes

from notifier.keptn.context import TemplateContext
from notifier.suggest import closest
from notifier.templating.sandbox import DICT_ATTRIBUTES

# Where a template's author finds the names.
NAMES_DOC: Final = 'docs/templates.md ("What a template sees")'


@dataclass(frozen=True, slots=True, eq=False)
class Shape:
    """What is known of a value: a TypedDict's keys, a list's items, a mapping's values, or nothing (ANY)."""

    keys: Mapping[str, Shape] | None = None
    items: Shape | None = None
    values: Shape | None = None


ANY: Final = Shape()


def shape_of(hint: Any) -> Shape:
    """The shape of a type hint: TypedDicts key by key, `list[X]` and `Mapping[str, X]` by X, the rest ANY."""
    if is_typeddict(hint):
        return Shape(keys=MappingProxyType({key: shape_of(value) for key, value in get_type_hints(hint).items()}))
    origin, args = get_origin(hint), get_args(hint)
    if origin in (list, tuple, Sequence) and args:
        return Shape(items=shape_of(args[0]))
    if origin in (dict, Mapping) and len(args) == 2:
        return Shape(values=shape_of(args[1]))
    return ANY


# Every name the context has, and what each holds.
CONTEXT: Final = shape_of(TemplateContext)


@dataclass(frozen=True, slots=True)
class Field:
    """One parsed template field: its name for messages (`facts[1].value`), its first line in the file."""

    label: str
    line: int
    tree: nodes.Template


@dataclass(frozen=True, slots=True)
class UnknownName:
    """A name, or a key of a typed value, that the context never has."""

    field: str
    line: int  # in the file
    used: str  # as written: `evalution.score`, `evaluation.scroe`
    missing: str  # what is not there: `evalution`, `scroe`
    owner: str  # the typed value whose key is missing (`evaluation`); empty for a top-level name
    meant: str | None
    known: tuple[str, ...]  # the names or keys it could have been

    def message(self, origin: str) -> str:
        where = f"{origin} line {self.line}: `{self.field}` uses `{self.used}`"
        if self.owner:
            said = f"{where}: `{self.owner}` has no key `{self.missing}` (it renders empty)"
            hint = f"its keys are {', '.join(self.known)}"
        else:
            said = f"{where}, which the template context does not have (it renders empty)"
            hint = f"the names it has are listed in {NAMES_DOC}"
        return f"{said}; did you mean {self.meant!r}?" if self.meant else f"{said}; {hint}"


def unknown_names(fields: Sequence[Field], helpers: Collection[str]) -> list[UnknownName]:
    """What the fields of one file read that the context never has; `helpers` are the environment's globals."""
    # A {% set %} in one field is seen by the fields after it: whatever any field sets is the file's own.
    own = frozenset({*helpers, *(name for field in fields for name in _set_names(field.tree))})
    found: list[UnknownName] = []
    for field in fields:
        walker = _Walker(field, own)
        walker.visit(field.tree)
        if any(not unknown.owner for unknown in walker.found):
            # Jinja's word on which names come from the context; asked only here, as it costs a compile.
            free = meta.find_undeclared_variables(field.tree)
            found.extend(unknown for unknown in walker.found if unknown.owner or unknown.missing in free)
        else:
            found.extend(walker.found)
    return found


def _set_names(tree: nodes.Template) -> Iterator[str]:
    for node in tree.find_all((nodes.Name, nodes.Macro, nodes.Import, nodes.FromImport)):
        if isinstance(node, nodes.Macro) or (isinstance(node, nodes.Name) and node.ctx in ("store", "param")):
            yield node.name
        elif isinstance(node, nodes.Import):
            yield node.target
        elif isinstance(node, nodes.FromImport):
            yield from (name if isinstance(name, str) else name[1] for name in node.names)


class _Walker:
    """Follows one field's tree with the shapes of the names in scope, and notes each name the context lacks."""

    def __init__(self, field: Field, own: Collection[str]) -> None:
        self._field = field
        self._own = own
        self._scopes: list[dict[str, Shape]] = [{}]
        self._seen: set[tuple[int, str]] = set()
        self.found: list[UnknownName] = []

    def visit(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Expr):
            self._shape(node)
            return
        handler = getattr(self, f"_visit_{type(node).__name__}", None)
        if handler is not None:
            handler(node)
        else:
            self._children(node)

    def _children(self, node: nodes.Node) -> None:
        for child in node.iter_child_nodes():
            self.visit(child)

    # -- expressions: their shape, noting unknown names on the way ----------------------------------------------

    def _shape(self, node: nodes.Node) -> Shape:
        if isinstance(node, nodes.Name):
            return self._name(node)
        if isinstance(node, nodes.Getattr):
            return self._member(node, self._shape(node.node), node.attr, attribute=True)
        if isinstance(node, nodes.Getitem):
            parent, key = self._shape(node.node), node.arg
            if isinstance(key, nodes.Const) and isinstance(key.value, str):
                return self._member(node, parent, key.value, attribute=False)
            self._shape(key)
            if isinstance(key, nodes.Const) and isinstance(key.value, int) and parent.items is not None:
                return parent.items
            if isinstance(key, nodes.Slice) and parent.items is not None:
                return parent
            return parent.values or ANY
        self._children(node)
        return ANY

    def _name(self, node: nodes.Name) -> Shape:
        if node.ctx != "load":
            return ANY
        for scope in reversed(self._scopes):
            if node.name in scope:
                return scope[node.name]
        if node.name in self._own:
            return ANY  # set by the template itself, in another field or out of this scope
        assert CONTEXT.keys is not None
        shape = CONTEXT.keys.get(node.name)
        if shape is not None:
            return shape
        known = sorted({*CONTEXT.keys, *self._own, *(name for scope in self._scopes for name in scope)})
        self._note(node, node.name, "", known)
        return ANY

    def _member(self, node: nodes.Getattr | nodes.Getitem, parent: Shape, key: str, attribute: bool) -> Shape:
        if attribute and key in DICT_ATTRIBUTES:
            return ANY  # `x.items` reaches the dict's method, typed or not
        if parent.keys is not None:
            shape = parent.keys.get(key)
            if shape is None:
                self._note(node, key, _written(node.node), sorted(parent.keys))
                return ANY
            return shape
        return parent.values or ANY

    def _note(self, node: nodes.Node, missing: str, owner: str, known: list[str]) -> None:
        line = self._field.line + (node.lineno or 1) - 1
        used = _written(node)
        if (line, used) in self._seen:
            return
        self._seen.add((line, used))
        meant = closest(missing, known)
        self.found.append(UnknownName(self._field.label, line, used, missing, owner, meant, tuple(known)))

    # -- statements that bind names ----------------------------------------------------------------------------

    def _bind(self, target: nodes.Node, shape: Shape, scope: dict[str, Shape]) -> None:
        if isinstance(target, nodes.Name):
            scope[target.name] = shape
        elif isinstance(target, nodes.Tuple):
            for item in target.items:
                self._bind(item, ANY, scope)

    def _visit_For(self, node: nodes.For) -> None:
        scope: dict[str, Shape] = {"loop": ANY}
        self._bind(node.target, self._shape(node.iter).items or ANY, scope)
        self._scoped(scope, [node.test] if node.test is not None else [], node.body)
        for child in node.else_:
            self.visit(child)

    def _visit_Assign(self, node: nodes.Assign) -> None:
        self._bind(node.target, self._shape(node.node), self._scopes[-1])

    def _visit_AssignBlock(self, node: nodes.AssignBlock) -> None:
        self._children(node)
        self._bind(node.target, ANY, self._scopes[-1])

    def _visit_Macro(self, node: nodes.Macro) -> None:
        self._scopes[-1][node.name] = ANY
        for default in node.defaults:
            self.visit(default)
        scope = dict.fromkeys(("caller", "varargs", "kwargs"), ANY)
        for argument in node.args:
            self._bind(argument, ANY, scope)
        self._scoped(scope, [], node.body)

    def _visit_CallBlock(self, node: nodes.CallBlock) -> None:
        self.visit(node.call)
        for default in node.defaults:
            self.visit(default)
        scope: dict[str, Shape] = {}
        for argument in node.args:
            self._bind(argument, ANY, scope)
        self._scoped(scope, [], node.body)

    def _visit_With(self, node: nodes.With) -> None:
        scope: dict[str, Shape] = {}
        for target, value in zip(node.targets, node.values, strict=True):
            self._bind(target, self._shape(value), scope)
        self._scoped(scope, [], node.body)

    def _visit_Import(self, node: nodes.Import) -> None:
        self._scopes[-1][node.target] = ANY

    def _visit_FromImport(self, node: nodes.FromImport) -> None:
        for name in node.names:
            self._scopes[-1][name if isinstance(name, str) else name[1]] = ANY

    def _scoped(self, scope: dict[str, Shape], expressions: list[nodes.Node], body: list[nodes.Node]) -> None:
        self._scopes.append(scope)
        try:
            for child in [*expressions, *body]:
                self.visit(child)
        finally:
            self._scopes.pop()


def _written(node: nodes.Node) -> str:
    """A chain of lookups as the template writes it: `evaluation.score`, `labels_shown.links[0].title`."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_written(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        key = node.arg
        inside = repr(key.value) if isinstance(key, nodes.Const) else "…"
        return f"{_written(node.node)}[{inside}]"
    return "…"
