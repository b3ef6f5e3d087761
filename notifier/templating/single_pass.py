"""All the fields of one template file as one Jinja template, so that a message is rendered in one pass.

Rendering each field as a template of its own cost a generator, a lookup of every name it uses and a deadline
check per field, two dozen times per message. One template holds every field in the order `fill` reads them.
After each field's output it yields `FIELD_END`, an object no template can produce, so the reader knows where
a field ends. A fact or link with a `when` sits in an `if` that asks the reader's verdict on the `when` text it
has just read (`Gate`): a fact left out is never rendered, as when each field was a template of its own.

The two helpers the joined template calls are Jinja tests whose names hold a space, and the gate sits in the
context under such a name: no template can write them. (`select(" shown")` could name one, and would only
read the current verdict.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from jinja2 import Environment, Template, nodes
from jinja2.runtime import Context
from jinja2.utils import pass_context

# A fresh object, told apart from text by identity: `str()` of a str is the str itself, so the compiled
# `yield str(...)` hands on this very object, while no value from an event or a template can be it.
FIELD_END: Final = "".join(("\x00", "end of field"))
GATE: Final = " gate"
_END_TEST: Final = " end of field"
_SHOWN_TEST: Final = " shown"


class Gate:
    """The reader's verdict on the `when` it read last: render the fact or link after it, or skip it."""

    __slots__ = ("shown",)

    def __init__(self) -> None:
        self.shown = True


# pass_context, so that Jinja can neither fold them into constants at compile time nor cache them.
@pass_context
def _end_of_field(context: Context, value: Any) -> str:
    return FIELD_END


@pass_context
def _shown(context: Context, value: Any) -> bool:
    gate: Gate = context.parent[GATE]
    return gate.shown


INTERNAL_TESTS: Final = MappingProxyType({_END_TEST: _end_of_field, _SHOWN_TEST: _shown})


@dataclass(frozen=True, slots=True)
class Gated:
    """A fact or link with a `when`: the two fields after it render only when the `when` text is truthy."""

    when: list[nodes.Node]
    first: list[nodes.Node]
    second: list[nodes.Node]


def field_body(source: str, tree: nodes.Template | None) -> list[nodes.Node]:
    """A field's nodes: its parsed template, or its text when it has no Jinja syntax."""
    if tree is not None:
        return list(tree.body)
    return [nodes.Output([nodes.TemplateData(source, lineno=1)], lineno=1)] if source else []


def join_fields(env: Environment, fields: Sequence[list[nodes.Node] | Gated]) -> Template:
    """One template rendering `fields` in order, `FIELD_END` after each."""
    body: list[nodes.Node] = []
    for field in fields:
        if isinstance(field, Gated):
            shown = nodes.If(_test(_SHOWN_TEST), [*field.first, _end(), *field.second, _end()], [], [], lineno=1)
            body.extend((*field.when, _end(), shown))
        else:
            body.extend((*field, _end()))
    tree = nodes.Template(body, lineno=1)
    tree.set_environment(env)
    return env.from_string(tree)


def _test(name: str) -> nodes.Test:
    return nodes.Test(nodes.Const(None, lineno=1), name, [], [], None, None, lineno=1)


def _end() -> nodes.Output:
    return nodes.Output([_test(_END_TEST)], lineno=1)
