"""The Jinja environment templates run in: the immutable sandbox plus the bounds it lacks.

Templates are configuration, written by operators and filled with event data sent by anything in the cluster.
The stock sandbox stops attribute escapes and mutation; this one also bounds output size, intermediate value
size and time, refuses string formatting, and offers only harmless globals and filters.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from jinja2 import BaseLoader, ChainableUndefined, Environment
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Joiner

from notifier.templating.filters import TEMPLATE_FILTERS
from notifier.templating.single_pass import INTERNAL_TESTS

# Filters that build output of a size chosen by a number (a width, a count) or are not deterministic.
REMOVED_FILTERS: Final = ("center", "format", "indent", "wordwrap", "slice", "random", "urlize", "xmlattr")
# Largest integer `**` may build, in bits (about 1,200 decimal digits).
MAX_POWER_BITS: Final = 4096
# Intermediate values (a string built by `*`, `+` or a filter) may reach this multiple of the output cap.
INTERMEDIATE_FACTOR: Final = 4
# Values with a size. A tuple, not `str | bytes | ...`: a union is built anew on every evaluation (20x slower).
_SIZED: Final = (str, bytes, list, tuple, dict, set, frozenset)


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    max_output_chars: int = 20_000
    max_render_seconds: float = 2.0


DEFAULT_LIMITS: Final = TemplateLimits()


class RenderLimitExceeded(Exception):
    """A render went past its output, value-size or time bound."""


class _DeadlineRange:
    """`range` for templates: checks the render deadline on every step, so nested loops cannot hang."""

    def __init__(self, env: RenderBounds, steps: range) -> None:
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


# `data.project` on a plain dict: Jinja tries the attribute first and reads the item after the AttributeError.
# Both environments read the item first when it is one and the name is no dict method (`x.items` still finds
# the method): same answer, no exception. It is the most frequent operation of all, so it is written out.
DICT_ATTRIBUTES: Final = frozenset(dir(dict))
# How every template environment is set up: plain text out, missing names render empty, `{% %}` lines vanish.
TEMPLATE_OPTIONS: Final[Mapping[str, Any]] = MappingProxyType(
    {"autoescape": False, "undefined": ChainableUndefined, "trim_blocks": True, "lstrip_blocks": True}
)


class RenderBounds:
    """What every render keeps, in the sandbox or not: the limits, and the deadline fill.py checks as it reads."""

    limits: TemplateLimits
    _clock: threading.local

    def bound(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self._clock = threading.local()

    def start_deadline(self, seconds: float) -> None:
        """The render on this thread must end within `seconds`; end_deadline when it is over (not a context
        manager: one costs a microsecond, per render)."""
        self._clock.deadline = time.monotonic() + seconds

    def end_deadline(self) -> None:
        self._clock.deadline = math.inf

    def check_deadline(self) -> None:
        if time.monotonic() > getattr(self._clock, "deadline", math.inf):
            raise RenderLimitExceeded(f"rendering took longer than {self.limits.max_render_seconds:g} s")

    def bounded_range(self, *args: int) -> _DeadlineRange:
        """`range` for templates: at most MAX_RANGE steps, each checking the deadline."""
        steps = range(*args)
        if len(steps) > MAX_RANGE:
            raise RenderLimitExceeded(f"range() of {len(steps):,} steps is longer than {MAX_RANGE:,}")
        return _DeadlineRange(self, steps)


def offer_helpers(env: Environment, bounds: RenderBounds) -> None:
    """The same helpers and filters in every environment: a template that works in one works in the other."""
    env.auto_reload = False
    # Only harmless helpers: no lipsum, and no namespace (a mutable object that lets loops accumulate).
    env.globals.clear()
    env.globals.update(range=bounds.bounded_range, dict=dict, cycler=Cycler, joiner=Joiner)
    for name in REMOVED_FILTERS:
        env.filters.pop(name, None)
    env.filters.update(TEMPLATE_FILTERS)
    env.tests.update(INTERNAL_TESTS)


class BoundedSandbox(RenderBounds, ImmutableSandboxedEnvironment):
    """The immutable sandbox plus the bounds it lacks: value sizes, a render deadline, no str formatting."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, loader: BaseLoader, limits: TemplateLimits) -> None:
        super().__init__(loader=loader, **TEMPLATE_OPTIONS)
        self.bound(limits)
        offer_helpers(self, self)
        self.max_value_size = limits.max_output_chars * INTERMEDIATE_FACTOR
        self._lookups = 0
        self.filters = {name: self._guarded(function) for name, function in self.filters.items()}

    def sample_deadline(self) -> None:
        """For attribute and item lookups, the most frequent operations: read the clock every 64th time."""
        self._lookups += 1
        if self._lookups & 63:
            return
        if time.monotonic() > getattr(self._clock, "deadline", math.inf):
            raise RenderLimitExceeded(f"rendering took longer than {self.limits.max_render_seconds:g} s")

    def check_size(self, value: Any) -> Any:
        if isinstance(value, _SIZED) and len(value) > self.max_value_size:
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
        # The most frequent operation of all: the sampled deadline check is written out, not called.
        self._lookups += 1
        if not self._lookups & 63:
            self.check_deadline()
        if type(obj) is dict and attribute in obj and attribute not in DICT_ATTRIBUTES:
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
