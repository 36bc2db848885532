"""A small generic registry of named components, extensible through entry points.

Built-in components register at their definition site with a decorator; third-party
packages add theirs through an entry-point group (``gan_engine.<kind>``), which is read
from package metadata without importing anything and loaded on first use.
"""

from __future__ import annotations

import importlib
import inspect
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar, overload

from gan_engine.errors import PluginError, RegistryError, closest, did_you_mean
from gan_engine.params import parameter_problems

__all__ = ["ComponentInfo", "Registry", "all_registries", "isolated_registries"]

T = TypeVar("T")
DISABLE_AUTOLOAD_ENV = "GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True)
class ComponentInfo:
    """What a registry knows about one component, as shown by ``gan-engine plugins``."""

    kind: str
    name: str
    origin: str  #: the defining module, or ``"<distribution> <version>"`` for a plugin
    target: str  #: ``module:qualname`` of the object
    summary: str = ""  #: first line of the docstring
    signature: str = ""
    error: str | None = None  #: why the component cannot be loaded, if it cannot


@dataclass
class _Entry:
    name: str
    target: str
    origin: str
    obj: Any = None
    loaded: bool = False
    error: BaseException | None = None
    conflict: str | None = None  # message when two sources claim the name


def _target_of(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def _origin_of(obj: Any) -> str:
    return str(getattr(obj, "__module__", "<unknown>"))


class Registry(Generic[T]):
    """Named components of one kind: ``register``, ``names``, ``get``, ``build``, ``in``.

    Args:
        kind: plural name of the kind, e.g. ``"generators"``; used in messages.
        group: entry-point group scanned for plugins; ``gan_engine.<kind>`` by default.

    Example:
        >>> reg = Registry("widgets")
        >>> @reg.register("box")
        ... class Box:
        ...     def __init__(self, size: int = 1) -> None:
        ...         self.size = size
        >>> reg.build({"name": "box", "size": 3}).size
        3
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group or f"gan_engine.{kind}"
        self._entries: dict[str, _Entry] = {}
        self._plugins_scanned = False

    # -- registration -----------------------------------------------------------------
    @overload
    def register(self, name: str, obj: None = None, *, override: bool = False) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T, *, override: bool = False) -> T: ...
    def register(self, name: str, obj: T | None = None, *, override: bool = False) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator that does."""
        if obj is None:
            return lambda o: self.register(name, o, override=override)
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{self.kind}: a component name must be a non-empty string, got {name!r}")
        old = self._entries.get(name)
        target = _target_of(obj)
        if old is not None and not override and old.target != target:
            raise RegistryError(
                f"{self.kind}: the name {name!r} is already registered by {old.origin} ({old.target}); "
                f"{_origin_of(obj)} ({target}) tried to register it again. Pick another name, "
                f"or pass override=True to replace it on purpose."
            )
        self._entries[name] = _Entry(name, target, _origin_of(obj), obj, loaded=True)
        return obj

    def declare(self, name: str, target: str) -> None:
        """Declare a built-in by ``"module:attr"`` without importing it (for heavy modules)."""
        if name not in self._entries:
            self._entries[name] = _Entry(name, target, target.partition(":")[0])

    def unregister(self, name: str) -> None:
        """Remove ``name``; mostly useful in tests and notebooks."""
        self._entries.pop(name, None)

    # -- plugin discovery -------------------------------------------------------------
    def _scan_plugins(self) -> None:
        if self._plugins_scanned:
            return
        self._plugins_scanned = True
        if os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() in {"1", "true", "yes"}:
            return
        from importlib.metadata import entry_points

        seen: dict[str, str] = {}
        for ep in entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            origin = f"{dist.name} {dist.version}" if dist is not None else f"entry point {ep.value}"
            if seen.get(ep.name) == origin:
                continue  # the same distribution found twice on sys.path
            existing = self._entries.get(ep.name)
            entry = _Entry(ep.name, ep.value, origin)
            if existing is not None and (existing.origin, existing.target) == (origin, ep.value):
                continue  # already known from an earlier scan
            if existing is not None:
                entry = existing
                entry.conflict = (
                    f"{self.kind}: the name {ep.name!r} is claimed by both {existing.origin} "
                    f"({existing.target}) and {origin} ({ep.value}). Uninstall one of them, or "
                    f"register one under another name."
                )
                warnings.warn(entry.conflict, RuntimeWarning, stacklevel=3)
            seen[ep.name] = origin
            self._entries[ep.name] = entry

    # -- lookup -----------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every known name, sorted: built-ins, registrations and (unloaded) plugins."""
        self._scan_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._scan_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} components)"

    def get(self, name: str) -> T:
        """Return the component registered as ``name``, loading its plugin on first use."""
        self._scan_plugins()
        entry = self._entries.get(name)
        if entry is None:
            hint = did_you_mean(name, self._entries)
            raise RegistryError(
                f"{self.kind}: unknown name {name!r}. {hint + ' ' if hint else ''}"
                f"Available: {', '.join(sorted(self._entries)) or '(none)'}."
            )
        if entry.conflict:
            raise PluginError(entry.conflict)
        if not entry.loaded:
            self._load(entry)
        return entry.obj  # type: ignore[no-any-return]

    def _load(self, entry: _Entry) -> None:
        if entry.error is None:
            module_name, _, attr = entry.target.partition(":")
            try:
                obj: Any = importlib.import_module(module_name)
                for part in filter(None, attr.split(".")):
                    obj = getattr(obj, part)
            except Exception as exc:  # a broken plugin must not break anything else
                entry.error = exc
                warnings.warn(
                    f"{self.kind}: the component {entry.name!r} ({entry.target}, from {entry.origin}) "
                    f"failed to load: {type(exc).__name__}: {exc}",
                    RuntimeWarning,
                    stacklevel=4,
                )
            else:
                entry.obj, entry.loaded = obj, True
                return
        raise PluginError(
            f"{self.kind}: the component {entry.name!r} ({entry.target}, from {entry.origin}) could not "
            f"be loaded: {type(entry.error).__name__}: {entry.error}. Fix or reinstall that package, "
            f"or set {DISABLE_AUTOLOAD_ENV}=1 to ignore plugins."
        ) from entry.error

    # -- construction -----------------------------------------------------------------
    def parameters(self, name: str) -> dict[str, inspect.Parameter]:
        """The keyword parameters the component's constructor accepts."""
        return _parameters(self.get(name))

    def check_params(self, name: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Bind ``params`` against the component's signature; return ``(key, problem)`` pairs."""
        obj = self.get(name)
        accepted = _parameters(obj)
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
            return []
        problems: list[tuple[str, str]] = []
        names = [n for n, p in accepted.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        for key in params:
            if key not in accepted:
                hint = closest(key, names, n=1)
                near = f" (closest: {hint[0]!r})" if hint else ""
                problems.append((key, f"{self.kind} {name!r} has no parameter {key!r}{near}; "
                                      f"it accepts: {', '.join(names) or '(nothing)'}"))
        for pname, p in accepted.items():
            required = p.default is inspect.Parameter.empty and p.kind in (
                inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            if required and pname not in params:
                problems.append((pname, f"{self.kind} {name!r} requires the parameter {pname!r}"))
        known = {k: v for k, v in params.items() if k in accepted}
        return problems + parameter_problems(obj, known)

    def build(self, spec: str | Mapping[str, Any], /, **kwargs: Any) -> Any:
        """Construct a component from a name and keywords, or from ``{"name": ..., **kw}``."""
        if isinstance(spec, Mapping):
            if "name" not in spec:
                raise RegistryError(f"{self.kind}: a component mapping needs a 'name' key, got {dict(spec)!r}")
            kwargs = {**{k: v for k, v in spec.items() if k != "name"}, **kwargs}
            spec = str(spec["name"])
        problems = self.check_params(spec, kwargs)
        if problems:
            raise RegistryError(f"cannot build {self.kind[:-1] if self.kind.endswith('s') else self.kind} "
                                f"{spec!r}: " + "; ".join(f"{key}: {msg}" for key, msg in problems))
        return self.get(spec)(**kwargs)  # type: ignore[operator]

    def describe(self, name: str) -> ComponentInfo:
        """Origin, first docstring line and signature of ``name`` (loads a plugin to read them)."""
        self._scan_plugins()
        entry = self._entries[name] if name in self._entries else None
        try:
            obj = self.get(name)
        except RegistryError as exc:
            if entry is None:
                raise
            return ComponentInfo(self.kind, name, entry.origin, entry.target, error=str(exc))
        assert entry is not None
        doc = inspect.getdoc(obj) or ""
        sig = _signature_text(obj)
        return ComponentInfo(self.kind, name, entry.origin, entry.target, doc.split("\n", 1)[0], sig)

    # -- isolation --------------------------------------------------------------------
    def _snapshot(self) -> tuple[dict[str, _Entry], bool]:
        return {k: replace(v) for k, v in self._entries.items()}, self._plugins_scanned

    def _restore(self, state: tuple[dict[str, _Entry], bool]) -> None:
        self._entries, self._plugins_scanned = dict(state[0]), state[1]


def _parameters(obj: Any) -> dict[str, inspect.Parameter]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return {}
    return {n: p for n, p in sig.parameters.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL}


def accepts_keyword(obj: Any, key: str, unknown: bool = False) -> bool:
    """Whether calling ``obj`` takes the keyword ``key`` (or any keyword); ``unknown`` without a signature."""
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return unknown
    return key in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _signature_text(obj: Any) -> str:
    try:
        try:
            sig = inspect.signature(obj, eval_str=True)
        except (NameError, SyntaxError):  # annotations naming what is not importable at run time
            sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""
    return str(sig.replace(return_annotation=inspect.Signature.empty))


_REGISTRIES: dict[str, Registry[Any]] = {}


def _make(kind: str) -> Registry[Any]:
    _REGISTRIES[kind] = Registry(kind)
    return _REGISTRIES[kind]


generators: Registry[Any] = _make("generators")
discriminators: Registry[Any] = _make("discriminators")
losses: Registry[Any] = _make("losses")
normalizers: Registry[Any] = _make("normalizers")
callbacks: Registry[Any] = _make("callbacks")
tasks: Registry[Any] = _make("tasks")
datamodules: Registry[Any] = _make("datamodules")
degradations: Registry[Any] = _make("degradations")


def all_registries() -> dict[str, Registry[Any]]:
    """Every registry by kind, in a stable order."""
    return dict(_REGISTRIES)


@contextmanager
def isolated_registries(rescan_plugins: bool = False) -> Iterator[None]:
    """Run a block with private copies of every registry; restore them afterwards.

    Args:
        rescan_plugins: forget the entry points seen so far, so that distributions added to
            ``sys.path`` inside the block are discovered.
    """
    saved = {kind: reg._snapshot() for kind, reg in _REGISTRIES.items()}
    try:
        if rescan_plugins:
            for reg in _REGISTRIES.values():
                reg._plugins_scanned = False
        yield
    finally:
        for kind, reg in _REGISTRIES.items():
            reg._restore(saved[kind])
