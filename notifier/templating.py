"""Notification templates: YAML files of Jinja2 fields, rendered in a bounded sandbox into a Message.

Templates are configuration, written by operators and filled with event data sent by anything in the cluster.
So the engine is a sandbox with three extra bounds the Jinja sandbox lacks (output size, intermediate value
size, time), and rendering never raises: a broken template costs one plain fallback message and an ERROR
log line, never a lost notification.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import orjson
import yaml
from jinja2 import BaseLoader, ChainableUndefined, ChoiceLoader, Template, TemplateNotFound, meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.runtime import Context, new_context
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Joiner

from notifier import keptn
from notifier.events import KeptnEvent, event_from_mapping
from notifier.message import Fact, Link, Message, Severity
from notifier.urls import is_real_url

LOGGER = logging.getLogger("notifier.templating")

TOP_LEVEL_KEYS: Final = ("title", "summary", "severity", "text", "facts", "links", "footer")
FACT_KEYS: Final = ("name", "value", "when")
LINK_KEYS: Final = ("title", "url", "when")
# What a rendered `when` may say to leave its fact or link out (compared stripped and lower-cased).
FALSY_WHEN: Final = frozenset({"", "false", "none", "0", "[]", "{}", "()", "no", "off"})
SEVERITIES: Final = frozenset(severity.value for severity in Severity)
# Filters that build output of a size chosen by a number (a width, a count) or are not deterministic.
REMOVED_FILTERS: Final = ("center", "format", "indent", "wordwrap", "slice", "random", "urlize", "xmlattr")
# `_name.j2` directly in a template folder: no slash, so no way to name a file anywhere else.
MACRO_FILE: Final = re.compile(r"_[A-Za-z0-9][A-Za-z0-9_-]*\.j2", re.ASCII)
# libyaml when present: four times faster, same safe constructor, same line marks.
SAFE_YAML_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Largest integer `**` may build, in bits (about 1,200 decimal digits).
MAX_POWER_BITS: Final = 4096
# Intermediate values (a string built by `*`, `+` or a filter) may reach this multiple of the output cap.
INTERMEDIATE_FACTOR: Final = 4


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    max_output_chars: int = 20_000
    max_render_seconds: float = 2.0


class TemplateError(Exception):
    """A template set that cannot be used; the message names the file, the line if known, and the fix."""


class RenderLimitExceeded(Exception):
    """A render went past its output, value-size or time bound."""


class _FieldFailed(Exception):
    def __init__(self, field: str, cause: BaseException) -> None:
        super().__init__(f"{field}: {type(cause).__name__}: {cause}")


class _DeadlineRange:
    """`range` for templates: checks the render deadline on every step, so nested loops cannot hang."""

    def __init__(self, env: _BoundedSandbox, steps: range) -> None:
        self._env = env
        self._steps = steps

    def __iter__(self) -> Iterator[int]:
        for step in self._steps:
            self._env.check_deadline()
            yield step

    def __reversed__(self) -> Iterator[int]:
        for step in reversed(self._steps):
            self._env.check_deadline()
            yield step

    def __len__(self) -> int:
        return len(self._steps)

    def __contains__(self, item: object) -> bool:
        return item in self._steps


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus the bounds it lacks: value sizes, a render deadline, no str formatting."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, loader: BaseLoader, limits: TemplateLimits) -> None:
        super().__init__(
            loader=loader,
            autoescape=False,
            undefined=ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.limits = limits
        self.max_value_size = limits.max_output_chars * INTERMEDIATE_FACTOR
        self._clock = threading.local()
        self._lookups = 0
        # Only harmless helpers: no lipsum, and no namespace (a mutable object that lets loops accumulate).
        self.globals.clear()
        self.globals.update(range=self._range, dict=dict, cycler=Cycler, joiner=Joiner)
        for name in REMOVED_FILTERS:
            self.filters.pop(name, None)
        self.filters.update(TEMPLATE_FILTERS)
        self.filters = {name: self._guarded(function) for name, function in self.filters.items()}

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        self._clock.deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self._clock.deadline = math.inf

    def check_deadline(self) -> None:
        if time.monotonic() > getattr(self._clock, "deadline", math.inf):
            raise RenderLimitExceeded(f"rendering took longer than {self.limits.max_render_seconds:g} s")

    def sample_deadline(self) -> None:
        """For attribute and item lookups, the most frequent operations: read the clock every 64th time."""
        self._lookups += 1
        if self._lookups & 63:
            return
        if time.monotonic() > getattr(self._clock, "deadline", math.inf):
            raise RenderLimitExceeded(f"rendering took longer than {self.limits.max_render_seconds:g} s")

    def check_size(self, value: Any) -> Any:
        sized = isinstance(value, str | bytes | list | tuple | dict | set | frozenset)
        if sized and len(value) > self.max_value_size:
            raise RenderLimitExceeded(
                f"a value of {len(value):,} characters or items is larger than the limit of {self.max_value_size:,}"
            )
        return value

    def _guarded(self, function: Callable[..., Any]) -> Callable[..., Any]:
        # Filters are called directly by compiled code, not through `call`: bound them here.
        # functools.wraps copies `jinja_pass_arg`, so pass_context filters keep working.
        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self.check_deadline()
            return self.check_size(function(*args, **kwargs))

        return guarded

    def _range(self, *args: int) -> _DeadlineRange:
        steps = range(*args)
        if len(steps) > MAX_RANGE:
            raise RenderLimitExceeded(f"range() of {len(steps):,} steps is longer than {MAX_RANGE:,}")
        return _DeadlineRange(self, steps)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.check_deadline()
        arguments = (*args, *kwargs.values())
        for argument in arguments:
            __self.check_size(argument)
        # "x".ljust(10**9), .zfill, .center, .expandtabs: a number that sizes a string.
        if isinstance(getattr(__obj, "__self__", None), str):
            for argument in arguments:
                if isinstance(argument, int) and abs(argument) > __self.max_value_size:
                    raise RenderLimitExceeded(f"{argument:,} is larger than the value-size limit")
        return __self.check_size(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.check_deadline()
        if operator == "%" and isinstance(left, str):
            raise SecurityError("printf-style '%' formatting is not available in templates: use '~' to join")
        if _power_bits(operator, left, right) > MAX_POWER_BITS:
            raise RenderLimitExceeded(f"{left} ** {right} would be too large a number")
        if _binop_size(operator, left, right) > self.max_value_size:
            raise RenderLimitExceeded(f"the result of {operator!r} would be larger than the value-size limit")
        return self.check_size(super().call_binop(context, operator, left, right))

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.sample_deadline()
        # `data.project` on a plain dict: the sandbox would try the attribute first and fail with an exception
        # before reading the item. Same answer, without the exception; dict methods still go the long way.
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.sample_deadline()
        return super().getitem(obj, argument)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # The stock sandbox returns an Undefined that only fails when called; ChainableUndefined would then
        # print it as "". Refuse at once so the attempt is logged and the fallback is sent.
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is refused")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is None:
            return None

        def refused(*args: Any, **kwargs: Any) -> str:
            # A format spec sizes its output ("{:>999999999}"): not bounded, so not offered.
            raise SecurityError("str.format is not available in templates: use '~' to join values")

        return refused


def _power_bits(operator: str, left: Any, right: Any) -> int:
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
        return abs(left).bit_length() * right
    return 0


def _binop_size(operator: str, left: Any, right: Any) -> int:
    """How many characters or items `*` or `+` would build, estimated before it runs."""
    sequence = (str, list, tuple)
    if operator == "*":
        if isinstance(left, sequence) and isinstance(right, int):
            return len(left) * right
        if isinstance(right, sequence) and isinstance(left, int):
            return len(right) * left
    if operator == "+" and isinstance(left, sequence) and isinstance(right, sequence):
        return len(left) + len(right)
    return 0


# ---- filters: small, pure, and safe on Undefined and wrong types ----


def round_score(value: object, digits: int = 2) -> str:
    """83.33333333333334 -> "83.33", 100.0 -> "100"; empty for anything that is not a number."""
    parsed = keptn.number(value)
    return "" if parsed is None else keptn.format_number(parsed, max(0, min(int(digits), 6)))


def truncate_middle(value: object, length: int = 60) -> str:
    """Keep both ends of long ids and URLs, where the telling parts are."""
    shown = value if isinstance(value, str) else keptn.text(value)
    length = max(int(length), 5)
    if len(shown) <= length:
        return shown
    head = (length - 1) // 2
    return shown[:head] + "…" + shown[len(shown) - (length - 1 - head) :]


def join_nonempty(values: object, separator: str = ", ") -> str:
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        return keptn.text(values)
    return str(separator).join(shown for shown in (keptn.text(item) for item in values) if shown)


def format_time(value: object) -> str:
    parsed = keptn.parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC") if parsed else keptn.text(value)


def duration(start: object, end: object) -> str:
    return keptn.duration_text(start, end)


TEMPLATE_FILTERS: Final = MappingProxyType(
    {
        "round_score": round_score,
        "truncate_middle": truncate_middle,
        "join_nonempty": join_nonempty,
        "format_time": format_time,
        "duration": duration,
    }
)


# ---- loading ----


class _MacroLoader(BaseLoader):
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


@dataclass(frozen=True, slots=True)
class _Field:
    """One template string; plain text with no Jinja syntax is kept as it is, not compiled."""

    label: str
    template: Template | None
    constant: str = ""


@dataclass(frozen=True, slots=True)
class _Pair:
    """A fact (name, value) or a link (title, url), shown only when `when` renders truthy."""

    first: _Field
    second: _Field
    when: _Field | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    name: str
    origin: str
    title: _Field
    summary: _Field | None
    severity: _Field | None
    text: _Field | None
    footer: _Field | None
    facts: tuple[_Pair, ...]
    links: tuple[_Pair, ...]


class _Budget:
    """Characters left for one render, shared by all its fields."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise RenderLimitExceeded(f"output is longer than {self.limit:,} characters")


def _package_folder(package: str, source_folder: str) -> Traversable:
    try:
        return importlib.resources.files(package)
    except ModuleNotFoundError:
        # A source checkout that is not installed: the folder sits next to the `notifier` package.
        return Path(__file__).resolve().parent.parent / source_folder


class TemplateSet:
    """The built-in templates with the user's files laid over them, compiled once."""

    def __init__(self, user_dir: Path | None, bridge_url: str = "", limits: TemplateLimits = TemplateLimits()) -> None:
        self._bridge_url = bridge_url
        self._limits = limits
        folders = [_package_folder("notifier.templates", "templates")]
        if user_dir is not None:
            user_folder = Path(user_dir)
            if not user_folder.is_dir():
                raise TemplateError(
                    f"{user_folder}: the templates directory does not exist or is not a directory; "
                    "create it or fix the templates path in the configuration"
                )
            folders.insert(0, user_folder)
        self._env = _BoundedSandbox(ChoiceLoader([_MacroLoader(folder) for folder in folders]), limits)
        files: dict[str, Traversable] = {}
        for folder in folders:  # the user's folder first: its file of a name wins, and its errors show first
            for name, entry in _yaml_files(folder).items():
                files.setdefault(name, entry)
        for folder in folders:
            for macro in _MacroLoader(folder).list_templates():
                self._compile_macro(macro)
        compiled = {name: self._compile_file(name, entry) for name, entry in files.items()}
        self._templates = MappingProxyType(dict(sorted(compiled.items())))
        if "default" not in self._templates:
            raise TemplateError("no `default` template: the built-in templates are missing from the install")

    def names(self) -> tuple[str, ...]:
        return tuple(self._templates)

    def has(self, name: str) -> bool:
        return name in self._templates

    def select(self, event_type: str) -> str:
        for name in keptn.template_candidates(event_type):
            if name in self._templates:
                return name
        return "default"

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
                extra={"template": name, "keptnContext": _context_id(event)},
            )
            return fallback_message(event, f"template {name!r} failed: {reason}", self._bridge_url)

    def check(self, samples: Sequence[KeptnEvent]) -> list[str]:
        """Render each template against the samples it would be chosen for; one line per problem."""
        problems = []
        for name, compiled in self._templates.items():
            for sample in samples:
                if name != "default" and name not in keptn.template_candidates(sample.type):
                    continue
                try:
                    self._render(name, sample)
                except Exception as exc:
                    problems.append(
                        f"{compiled.origin}: fails for a {sample.type} event (sample id {sample.id}): {_reason(exc)}"
                    )
        return problems

    # ---- rendering ----

    def _render(self, name: str, event: KeptnEvent) -> Message:
        compiled = self._templates.get(name)
        if compiled is None:
            raise LookupError(f"there is no template named {name!r}; known: {', '.join(self._templates)}")
        # One Jinja context for all the fields of this render: making one per field cost more than rendering.
        # The globals travel as plain variables: a context that names globals makes each `{% import %}` of a
        # macro file compare key sets on every render, in pure Python.
        variables = {**self._env.globals, **keptn.template_context(event, self._bridge_url)}
        context = new_context(self._env, name, {}, variables, True)
        budget = _Budget(self._limits.max_output_chars)

        def emit(field: _Field | None) -> str:
            return "" if field is None else self._emit(field, context, budget)

        with self._env.deadline(self._limits.max_render_seconds):
            title = _one_line(emit(compiled.title))
            if not title:
                raise ValueError("the title renders empty")
            severity = emit(compiled.severity).strip().lower() or Severity.INFO.value
            if severity not in SEVERITIES:
                raise ValueError(f"severity renders to {severity[:40]!r}, not one of {', '.join(sorted(SEVERITIES))}")
            facts = tuple(
                Fact(_one_line(label), value.strip())
                for label, value in self._pairs(compiled.facts, context, budget)
                if _one_line(label) and value.strip()
            )
            links = tuple(
                Link(_one_line(label) or url.strip(), url.strip())
                for label, url in self._pairs(compiled.links, context, budget)
                if _is_web_url(url.strip())
            )
            return Message(
                title=title,
                severity=Severity(severity),
                summary=_one_line(emit(compiled.summary)),
                text=_tidy(emit(compiled.text)),
                facts=facts,
                links=links,
                footer=_tidy(emit(compiled.footer)),
                template=name,
            )

    def _pairs(self, pairs: tuple[_Pair, ...], context: Context, budget: _Budget) -> Iterator[tuple[str, str]]:
        for pair in pairs:
            if pair.when is not None and self._emit(pair.when, context, budget).strip().lower() in FALSY_WHEN:
                continue
            yield self._emit(pair.first, context, budget), self._emit(pair.second, context, budget)

    def _emit(self, field: _Field, context: Context, budget: _Budget) -> str:
        if field.template is None:
            budget.spend(len(field.constant))
            return field.constant
        parts: list[str] = []
        append = parts.append
        try:
            # The output cap is checked on every chunk (cheap); the clock on every 32nd (a system call).
            for count, chunk in enumerate(field.template.root_render_func(context), 1):
                budget.spend(len(chunk))
                if not count & 31:
                    self._env.check_deadline()
                append(chunk)
            self._env.check_deadline()
        except Exception as exc:
            raise _FieldFailed(field.label, exc) from exc
        return "".join(parts)

    # ---- compiling ----

    def _compile_macro(self, name: str) -> None:
        try:
            self._env.get_template(name)
        except TemplateSyntaxError as exc:
            raise TemplateError(
                f"{exc.filename or name} line {exc.lineno}: not a valid Jinja template: {exc.message}"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"{name}: cannot be read ({exc})") from None

    def _compile_file(self, name: str, entry: Traversable) -> _Compiled:
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

        def field(key: str) -> _Field | None:
            if key not in document:
                return None
            return self._field(origin, key, document[key], lines[key])

        title = field("title")
        assert title is not None
        return _Compiled(
            name=name,
            origin=origin,
            title=title,
            summary=field("summary"),
            severity=field("severity"),
            text=field("text"),
            footer=field("footer"),
            facts=self._compile_pairs(origin, "facts", document.get("facts"), node, FACT_KEYS),
            links=self._compile_pairs(origin, "links", document.get("links"), node, LINK_KEYS),
        )

    def _compile_pairs(
        self, origin: str, key: str, items: object, node: yaml.MappingNode, allowed: tuple[str, ...]
    ) -> tuple[_Pair, ...]:
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
                _Pair(
                    self._field(origin, f"{label}.{first}", item[first], lines[first]),
                    self._field(origin, f"{label}.{second}", item[second], lines[second]),
                    None if when is None else self._field(origin, f"{label}.when", when, lines["when"]),
                )
            )
        return tuple(pairs)

    def _field(self, origin: str, label: str, value: object, line: int) -> _Field:
        if not isinstance(value, str):
            raise TemplateError(
                f"{origin} line {line}: `{label}` must be text, not {type(value).__name__}; "
                "put the value in quotes (YAML reads an unquoted {{ ... }} as a mapping)"
            )
        if not any(marker in value for marker in ("{{", "{%", "{#")):
            return _Field(label, None, value)
        try:
            tree = self._env.parse(value)
            self._check_imports(tree)
            template = self._env.from_string(tree)
        except TemplateSyntaxError as exc:
            at = line + (exc.lineno or 1) - 1
            problem = exc.message or "syntax error"
            hint = f" (removed for safety: {', '.join(REMOVED_FILTERS)})" if "filter" in problem else ""
            raise TemplateError(
                f"{origin} line {at}: `{label}` is not a valid Jinja template: {problem}{hint}"
            ) from None
        return _Field(label, template)

    def _check_imports(self, tree: nodes.Template) -> None:
        for imported in meta.find_referenced_templates(tree):
            if imported is None:
                continue
            try:
                self._env.get_template(imported)
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


def _yaml_files(folder: Traversable) -> dict[str, Traversable]:
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


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _tidy(value: str) -> str:
    """Trailing spaces off, at most one blank line in a row: Jinja blocks leave gaps behind."""
    lines = [line.rstrip() for line in value.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _is_web_url(url: str) -> bool:
    # Also refuses placeholders such as `https://.../#problems`: a button to them is a dead end.
    return is_real_url(url)


def _reason(exc: BaseException) -> str:
    return _one_line(str(exc) or type(exc).__name__)[:300]


def _context_id(event: KeptnEvent) -> str:
    raw = getattr(event, "raw", None)
    return keptn.text(raw.get("shkeptncontext")) if isinstance(raw, Mapping) else ""


def fallback_message(event: KeptnEvent, reason: str, bridge_url: str = "") -> Message:
    """A plain message built in Python from the raw fields, for when a template fails. Cannot fail."""
    try:
        context = keptn.template_context(event, bridge_url)
        where = str(context["where"] or context["subject"])
        status, result = str(context["status"]), str(context["result"])
        facts = [
            Fact(name, value)
            for name, value in (
                ("Project", context["project"]),
                ("Stage", context["stage"]),
                ("Service", context["service"]),
                ("Status", status),
                ("Result", result),
                ("Source", context["source"]),
                ("Event id", context["id"]),
            )
            if isinstance(value, str) and value
        ]
        bridge = context["bridge"]
        trace = bridge.get("trace", "") if isinstance(bridge, dict) else ""
        message = str(context["message"])
        title = f"{context['emoji']} {context['type']}" + (f": {where}" if where else "")
        return Message(
            title=title,
            severity=Severity(str(context["severity"])),
            summary=title,
            text="\n\n".join(
                part
                for part in (message, f"(Plain message: the notification {reason[:300]}. See the service log.)")
                if part
            ),
            facts=tuple(facts),
            links=(Link("Open in Keptn Bridge", trace),) if trace else (),
            footer=f"Keptn context {context['keptn_context']}" if context["keptn_context"] else "",
            template="fallback",
        )
    except Exception:
        return Message(
            title=f"Event {keptn.text(getattr(event, 'type', ''))}",
            text=f"(Plain message: the notification {reason[:300]}.)",
            template="fallback",
        )


def load_samples_by_name() -> dict[str, KeptnEvent]:
    """The packaged example events by file name without `.json`: for `check`, previews and tests."""
    folder = _package_folder("notifier.samples", "examples/events")
    samples = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".json"):
            samples[entry.name.removesuffix(".json")] = event_from_mapping(
                orjson.loads(entry.read_bytes()), where=entry.name
            )
    return samples


def load_samples() -> list[KeptnEvent]:
    return list(load_samples_by_name().values())
