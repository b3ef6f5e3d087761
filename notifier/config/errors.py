"""Validation errors in the operator's words: what the key must be, an example, and the key meant by a typo.

Pydantic's own wording ("Input should be a valid dictionary or instance of RateLimit") names Python classes
that a YAML author never sees. Here each error is worded from the config models themselves: the field's
`description` says what it means, its `examples` show the shape, and the fields of the model at the error's
place are the candidates for "did you mean".
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from notifier.channels.base import InsecureUrlError
from notifier.suggest import did_you_mean

Loc = tuple[str | int, ...]

_MAPPING_ERRORS = frozenset({"model_type", "dict_type", "model_attributes_type", "mapping_type"})
_NUMBER_ERRORS = frozenset({"float_parsing", "float_type", "finite_number"})
_INTEGER_ERRORS = frozenset({"int_parsing", "int_type", "int_from_float", "int_parsing_size"})
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


def describe(error: ErrorDetails, root: Any, environment: bool = False) -> str:
    """The message for one validation error; `root` is the type validated, `environment` when no file is used."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    model, info, annotation = field_at(root, error["loc"])
    if kind == "value_error":
        cause = ctx.get("error")
        message = str(cause) if cause is not None else error["msg"].removeprefix("Value error, ")
        if isinstance(cause, InsecureUrlError):
            message += (
                "; environment variables cannot allow that: use a YAML config file (--config / NOTIFIER_CONFIG) "
                "with allow_insecure: true on the channel"
                if environment
                else "; set allow_insecure: true on the channel if you really mean it"
            )
        return message
    if kind == "extra_forbidden":
        key = error["loc"][-1] if error["loc"] else ""
        known = list(model.model_fields) if model is not None else []
        hint = did_you_mean(str(key), known)
        return f"unknown key {key!r}{hint or ': remove it or check its spelling'}" + (
            f" (known keys: {', '.join(known)})" if known and not hint else ""
        )
    if kind == "missing":
        key = error["loc"][-1] if error["loc"] else ""
        return f"missing: add {key}" + (f": {info.description}" if info is not None and info.description else "")
    if kind in _MAPPING_ERRORS:
        return "must be " + (_shapes(info) or "a mapping (key: value)" + _keys_of(annotation))
    if kind == "list_type":
        return "must be " + (_shapes(info) or "a list, e.g. [a, b]")
    if kind == "too_short":
        return "must not be empty" + _example(info)
    if kind in _NUMBER_ERRORS:
        return "must be a number" + _meaning(info)
    if kind in _INTEGER_ERRORS:
        return "must be a whole number" + _meaning(info)
    if kind in ("bool_parsing", "bool_type"):
        return "must be true or false"
    if kind == "string_type":
        return "must be text (put it in quotes)"
    if kind == "literal_error":
        return f"must be {ctx.get('expected', 'one of the listed values')}"
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        return f"must be {words} {_number(ctx.get(name))}" + _meaning(info)
    return error["msg"].replace("Input should be", "must be")


def field_at(root: Any, loc: Loc) -> tuple[type[BaseModel] | None, FieldInfo | None, Any]:
    """What sits at `loc`: the model holding the last key, that key's field, and the type expected there.

    The field is None when the model has no such key, or when `loc` ends inside a field's value (an item of a
    list, an entry of a mapping). `loc` is pydantic's, so a channel's type tag follows its name:
    ("channels", "hook", "slack", "webhook_url").
    """
    current: Any = root
    model: type[BaseModel] | None = None
    info: FieldInfo | None = None
    for part in loc:
        current = _unwrap(current, part)
        if isinstance(current, type) and issubclass(current, BaseModel):
            model, info = current, current.model_fields.get(str(part))
            if info is None:
                return model, None, None
            current = info.annotation
            continue
        info = None
        if get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        elif _arm(current, part) is not None:
            current = _arm(current, part)
        else:
            return model, None, None
    return model, info, current


def _unwrap(annotation: Any, part: str | int) -> Any:
    """Strip Annotated and Optional; pick a union's member model by its `type` tag when `part` is one."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if _is_union(annotation):
        members = [arm for arm in get_args(annotation) if arm is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0], part)
    return annotation


def _arm(union: Any, tag: str | int) -> Any:
    if not _is_union(union):
        return None
    for member in get_args(union):
        if isinstance(member, type) and issubclass(member, BaseModel) and "type" in member.model_fields:
            annotation = member.model_fields["type"].annotation
            if get_origin(annotation) is Literal and tag in get_args(annotation):
                return member
    return None


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _meaning(info: FieldInfo | None) -> str:
    return f" ({info.description})" if info is not None and info.description else ""


def _example(info: FieldInfo | None) -> str:
    shapes = _shapes(info)
    return f": write e.g. {shapes}" if shapes else ""


def _shapes(info: FieldInfo | None) -> str:
    """The field's examples as a YAML author writes them: "`off` or a mapping like {per_second: 1, burst: 3}"."""
    if info is None or not info.examples:
        return ""
    return " or ".join(_shape(example) for example in info.examples)


def _shape(example: object) -> str:
    flow = yaml.safe_dump(example, default_flow_style=True, sort_keys=False, width=1000).strip()
    flow = flow.removesuffix("...").strip()
    if isinstance(example, dict):
        return f"a mapping like {flow}"
    if isinstance(example, list):
        return f"a list like {flow}"
    return f"`{example}`"


def _keys_of(annotation: Any) -> str:
    model = _unwrap(annotation, "")
    if isinstance(model, type) and issubclass(model, BaseModel):
        return f" with the keys {', '.join(model.model_fields)}"
    if _is_union(model):
        return ", e.g. {type: console}"
    return ""


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
