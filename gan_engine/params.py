"""Types and ranges of component parameters, declared in the signature and checked when a config loads.

A component states what each parameter accepts with ordinary annotations, narrowed where
needed by constraints inside ``typing.Annotated``::

    from typing import Annotated, Literal
    from gan_engine.params import MultipleOf, PositiveInt, Range

    @ge.generators.register("my_gen")
    class MyGen(nn.Module):
        def __init__(self, in_channels: PositiveInt, n_blocks: Annotated[int, Range(ge=0)] = 8,
                     mode: Literal["fast", "exact"] = "fast",
                     patch: Annotated[int, Range(ge=8), MultipleOf("scale")] = 64, scale: PositiveInt = 4):
            ...

``load_config`` (and ``Registry.build``) then refuses ``n_blocks: -1``, ``mode: fats``,
``patch: 30`` with ``scale: 4`` or ``in_channels: 2.5`` with the dotted key and the rule,
before anything is built. What is checked:

- ``int`` (``bool`` is not an ``int`` here), ``float`` (an ``int`` is accepted), ``str``,
  ``bool``; ``Literal[...]`` choices; ``X | None``; unions; ``list[X]``, ``tuple[X, ...]``,
  ``Sequence[X]`` item by item; ``dict``/``Mapping`` as mappings;
- :class:`Range` bounds, which also refuse NaN and infinities;
- :class:`MultipleOf` another parameter (or a fixed number).

Annotations it cannot judge (classes, callables, ``Any``, names it cannot resolve) are left
to the component itself.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import math
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

__all__ = ["Fraction", "MultipleOf", "NonNegativeFloat", "NonNegativeInt", "PositiveFloat", "PositiveInt", "Range",
           "check_arguments", "check_value", "parameter_problems"]


@dataclass(frozen=True)
class Range:
    """Bounds of a number: any of ``ge`` (≥), ``gt`` (>), ``le`` (≤), ``lt`` (<); finite unless ``finite=False``."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    finite: bool = True

    def problem(self, value: Any, arguments: Mapping[str, Any]) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None  # the type check reports it
        if self.finite and not math.isfinite(value):
            return f"must be a finite number{self._text()}, got {value!r}"
        failed = ((self.ge is not None and not value >= self.ge) or (self.gt is not None and not value > self.gt)
                  or (self.le is not None and not value <= self.le) or (self.lt is not None and not value < self.lt))
        return f"must be{self._text()}, got {value!r}" if failed else None

    def _text(self) -> str:
        parts = [f"{sign} {bound:g}" for sign, bound in (("≥", self.ge), (">", self.gt), ("≤", self.le), ("<", self.lt))
                 if bound is not None]
        return " " + " and ".join(parts) if parts else ""


@dataclass(frozen=True)
class MultipleOf:
    """A whole multiple of another parameter (``MultipleOf("scale")``) or of a number (``MultipleOf(8)``)."""

    of: str | int

    def problem(self, value: Any, arguments: Mapping[str, Any]) -> str | None:
        base = arguments.get(self.of) if isinstance(self.of, str) else self.of
        if not isinstance(value, int) or isinstance(value, bool) or not isinstance(base, int) or base < 1:
            return None
        if value % base:
            of = f"{self.of} ({base})" if isinstance(self.of, str) else str(base)
            return f"is {value}; it must be a multiple of {of}, e.g. {max(base, value - value % base)}"
        return None


PositiveInt = Annotated[int, Range(ge=1)]
NonNegativeInt = Annotated[int, Range(ge=0)]
PositiveFloat = Annotated[float, Range(gt=0)]
NonNegativeFloat = Annotated[float, Range(ge=0)]
#: a share in [0, 1]
Fraction = Annotated[float, Range(ge=0, le=1)]

_SEQUENCES = (list, tuple, cabc.Sequence, cabc.MutableSequence)


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _annotated(value: Any, annotation: Any, arguments: Mapping[str, Any]) -> str | None:
    base, *meta = typing.get_args(annotation)
    problem = check_value(value, base, arguments)
    for item in meta:
        if problem is None and isinstance(item, (Range, MultipleOf)):
            problem = item.problem(value, arguments)
    return problem


def _literal(value: Any, annotation: Any, arguments: Mapping[str, Any]) -> str | None:
    choices = typing.get_args(annotation)
    if any(value == c and type(value) is type(c) for c in choices):
        return None
    return f"must be one of {', '.join(repr(c) for c in choices)}; got {value!r}"


def _union(value: Any, annotation: Any, arguments: Mapping[str, Any]) -> str | None:
    options = typing.get_args(annotation)
    if value is None:
        return None if type(None) in options else "must not be null"
    problems = [check_value(value, option, arguments) for option in options if option is not type(None)]
    if any(p is None for p in problems):
        return None
    return problems[0] if len(problems) == 1 else f"does not fit {_describe(annotation)}: {problems[0]}"


def _sequence(value: Any, annotation: Any, arguments: Mapping[str, Any]) -> str | None:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        return f"must be a list, got {value!r}"
    args = typing.get_args(annotation)
    items = [a for a in args if a is not Ellipsis]
    if typing.get_origin(annotation) is tuple and len(items) > 1 and Ellipsis not in args:
        if len(value) != len(items):
            return f"must be a list of {len(items)} values, got {len(value)}"
        pairs = list(zip(value, items))
    else:
        pairs = [(v, items[0]) for v in value] if items else []
    for i, (item, tp) in enumerate(pairs):
        problem = check_value(item, tp, arguments)
        if problem:
            return f"item {i} {problem}"
    return None


def _mapping(value: Any, annotation: Any, arguments: Mapping[str, Any]) -> str | None:
    return None if isinstance(value, Mapping) else f"must be a mapping, got {value!r}"


_BY_ORIGIN: dict[Any, Callable[[Any, Any, Mapping[str, Any]], str | None]] = {
    Annotated: _annotated, Literal: _literal, Union: _union, types.UnionType: _union,
    **{o: _sequence for o in _SEQUENCES}, dict: _mapping, cabc.Mapping: _mapping, cabc.MutableMapping: _mapping,
}


def _plain(value: Any, annotation: Any) -> str | None:
    """Bare ``bool``, ``int``, ``float``, ``str``, ``None``, ``list``, ``dict``; anything else is not judged."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    rules: dict[Any, tuple[bool, str]] = {
        bool: (isinstance(value, bool), "true or false"),
        int: (isinstance(value, int) and not isinstance(value, bool), "an integer"),
        float: (number, "a number"), str: (isinstance(value, str), "a string"),
        type(None): (value is None, "null"),
        list: (isinstance(value, (list, tuple)), "a list"), tuple: (isinstance(value, (list, tuple)), "a list"),
        dict: (isinstance(value, Mapping), "a mapping"),
    }
    if annotation not in rules:
        return None  # classes, callables, protocols, Any: the component's own business
    ok, what = rules[annotation]
    return None if ok else f"must be {what}, got {value!r}"


def check_value(value: Any, annotation: Any, arguments: Mapping[str, Any] | None = None) -> str | None:
    """Why ``value`` does not fit ``annotation`` (with its constraints), or ``None`` when it fits.

    Args:
        value: the given value.
        annotation: a resolved annotation, ``Annotated`` constraints included.
        arguments: every argument of the call, for constraints that refer to another one.
    """
    if isinstance(annotation, (str, typing.TypeVar)):
        return None
    check = _BY_ORIGIN.get(typing.get_origin(annotation))
    if check is not None:
        return check(value, annotation, arguments or {})
    return _plain(value, annotation)


def _hints(obj: Any) -> dict[str, Any]:
    """Resolved annotations of ``obj``'s parameters (a class: its ``__init__``), extras kept."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # a name only imported for type checkers: resolve what can be resolved
        module = sys.modules.get(getattr(target, "__module__", ""), None)
        namespace = dict(vars(module)) if module else {}
        hints = {}
        for name, text in getattr(target, "__annotations__", {}).items():
            try:
                hints[name] = eval(text, namespace) if isinstance(text, str) else text
            except Exception:
                continue
        return hints


def parameter_problems(obj: Any, given: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(name, problem)`` for each value in ``given`` that does not fit ``obj``'s annotations.

    Constraints that refer to another parameter see that parameter's given value, or its
    default when it was not given.
    """
    hints = _hints(obj)
    if not hints:
        return []
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    arguments = {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}
    arguments.update(given)
    problems = []
    for name, value in given.items():
        if name in hints:
            problem = check_value(value, hints[name], arguments)
            if problem:
                problems.append((name, problem))
    return problems


def check_arguments(obj: Any, section: str, **given: Any) -> None:
    """Raise one :class:`~gan_engine.errors.ConfigError` for every argument that does not fit ``obj``'s annotations.

    For constructors that also run outside a config (``MyModule(batch_size=0)``): the same
    rules and messages as at config load, under the dotted ``section``.
    """
    problems = parameter_problems(obj, given)
    if problems:
        from gan_engine.errors import ConfigError, ConfigIssue

        raise ConfigError([ConfigIssue(f"{section}.{name}", problem) for name, problem in problems])
