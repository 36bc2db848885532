"""Parsing configurations: YAML/JSON files and dotted overrides → a typed :class:`Config`.

The parser is strict: unknown keys, wrong types and out-of-range values are collected
(never silently dropped) and reported together in one :class:`~gan_engine.ConfigError`.
It knows the schema only; names and parameters of components are checked afterwards
(:mod:`gan_engine.config.checks`), once :mod:`gan_engine.config.resolve` filled in the
derived values.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from gan_engine.config.schema import ComponentSpec
from gan_engine.config.serialize import dump
from gan_engine.errors import ConfigError, ConfigIssue, did_you_mean
from gan_engine.params import Range

__all__ = ["apply_overrides", "convert", "plain", "read_config_file"]

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


#: Nodes a configuration may expand to once its YAML aliases are followed (a config has hundreds).
MAX_YAML_NODES = 100_000


def read_config_file(path: str | PathLike[str]) -> dict[str, Any]:
    """Read a YAML (safe loader) or JSON file into a dict; errors name the file and what to do.

    Raises:
        ConfigError: the path is missing or a folder, the file is empty, not UTF-8 text, not
            valid YAML/JSON, not a mapping, or its aliases are recursive or expand past
            :data:`MAX_YAML_NODES` nodes (an "alias bomb", refused before it is expanded).
    """
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p} is a directory; expected a YAML configuration file (e.g. {p / 'config.yaml'})")
    if not p.is_file():
        raise ConfigError(f"configuration file not found: {p} (check the path, relative to {Path.cwd()})")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p} is not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); save it as UTF-8",
                          source=str(p)) from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else _load_yaml(text, p)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot parse {p}: {exc}", source=str(p)) from exc
    if data is None:
        raise ConfigError(f"{p}: the file is empty; write `{{}}` in it for all defaults", source=str(p))
    if not isinstance(data, Mapping):
        raise ConfigError(f"the top level must be a mapping of sections, got {type(data).__name__}", source=str(p))
    return plain(data)


def _load_yaml(text: str, path: Path) -> Any:
    """``yaml.safe_load`` that first checks the node graph: no alias cycle, a bounded expansion."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, path)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, path: Path) -> None:
    count, active = 0, set()

    def visit(node: yaml.Node) -> None:
        nonlocal count
        count += 1
        if count > MAX_YAML_NODES:
            raise ConfigError(f"{path}: the YAML aliases expand to more than {MAX_YAML_NODES} values; a "
                              "configuration never needs that many (is it an alias bomb?)", source=str(path))
        if not isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
            return
        if id(node) in active:
            raise ConfigError(f"{path}: a YAML alias refers to itself (line {node.start_mark.line + 1}); "
                              "recursive aliases cannot describe a configuration", source=str(path))
        active.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else [v for kv in node.value for v in kv]
        for child in children:
            visit(child)
        active.discard(id(node))

    visit(root)


def apply_overrides(
    raw: Mapping[str, Any], overrides: Sequence[str] | Mapping[str, Any], source: str | None = None
) -> dict[str, Any]:
    """Return a copy of ``raw`` with dotted overrides applied (``Losses.content.0.weight=2``)."""
    out = plain(raw)
    pairs: list[tuple[str, Any]] = []
    if isinstance(overrides, Mapping):
        pairs = list(overrides.items())
    else:
        for item in overrides:
            key, sep, text = str(item).partition("=")
            if not sep or not key.strip():
                raise ConfigError([ConfigIssue(str(item), "an override must look like KEY=VALUE, "
                                               "e.g. Training.max_steps=200")], source)
            try:
                value = yaml.safe_load(text) if text.strip() else None
            except yaml.YAMLError as exc:
                raise ConfigError([ConfigIssue(key, f"cannot parse the value {text!r}: {exc}")], source) from exc
            pairs.append((key.strip(), value))
    for key, value in pairs:
        _set_dotted(out, key, value, source)
    return out


def _set_dotted(root: dict[str, Any], key: str, value: Any, source: str | None) -> None:
    parts = key.split(".")
    node: Any = root
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError([ConfigIssue(key, f"{part!r} is not an index of a list of {len(node)}")], source)
            node = node[int(part)]
            continue
        child = node.get(part)
        if child is None or not isinstance(child, (dict, list)):
            child = [] if nxt.isdigit() else {}
            node[part] = child
        node = child
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) > len(node):
            raise ConfigError([ConfigIssue(key, f"{last!r} is not an index of a list of {len(node)}")], source)
        if int(last) == len(node):
            node.append(value)
        else:
            node[int(last)] = value
    else:
        node[last] = value


# -- conversion -------------------------------------------------------------------------


def convert(tp: Any, value: Any, path: str, issues: list[ConfigIssue], default: Any = None) -> Any:
    """Convert ``value`` to type ``tp``, appending a :class:`ConfigIssue` for every problem."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return convert(args[0] if len(args) == 1 else Any, value, path, issues, default)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _convert_dataclass(tp, value, path, issues, default)
    if origin is Literal:
        options = typing.get_args(tp)
        if value in options:
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and str(value) in options:
            return str(value)
        hint = did_you_mean(str(value), [str(o) for o in options])
        issues.append(ConfigIssue(path, f"expected one of {', '.join(map(repr, options))}, got {value!r}"
                                        + (f"; {hint}" if hint else "")))
        return default
    if origin is list:
        if not isinstance(value, (list, tuple)):
            issues.append(ConfigIssue(path, f"expected a list, got {type(value).__name__} {value!r}"))
            return default
        (item_tp,) = typing.get_args(tp) or (Any,)
        return [convert(item_tp, v, f"{path}.{i}", issues) for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            issues.append(ConfigIssue(path, f"expected a mapping, got {type(value).__name__} {value!r}"))
            return default
        return dict(value)
    return _convert_scalar(tp, value, path, issues, default)


def _convert_scalar(tp: Any, value: Any, path: str, issues: list[ConfigIssue], default: Any) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            value = float(value)  # PyYAML reads 1e4 as a string
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            return float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        return value
    issues.append(ConfigIssue(path, f"expected {tp.__name__}, got {type(value).__name__} {value!r}"))
    return default


def _convert_dataclass(tp: type, value: Any, path: str, issues: list[ConfigIssue], default: Any) -> Any:
    base: Any = default if isinstance(default, tp) else tp()
    if issubclass(tp, ComponentSpec) and isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping):
        issues.append(ConfigIssue(path, f"expected a mapping, got {type(value).__name__} {value!r}"))
        return base
    hints = typing.get_type_hints(tp)
    fields = {f.name: f for f in dataclasses.fields(tp)}
    kwargs: dict[str, Any] = {}
    if issubclass(tp, ComponentSpec):
        value = dict(value)
        new_name = value.get("name", base.name)
        params = dict(base.params) if new_name == base.name else {}
        if new_name != base.name:  # another component: the old one's typed extras do not carry over
            base = tp()
        typed = {k for k in fields if k != "params"}
        params.update({k: v for k, v in value.items() if k not in typed})
        value = {k: v for k, v in value.items() if k in typed}
        kwargs["params"] = params
        if not isinstance(new_name, str) or not new_name:
            issues.append(ConfigIssue(f"{path}.name".lstrip("."), f"expected a component name, got {new_name!r}"))
    for key, raw in value.items():
        sub = f"{path}.{key}".lstrip(".")
        if key not in fields or key == "params":
            hint = did_you_mean(str(key), [k for k in fields if k != "params"])
            issues.append(ConfigIssue(sub, "unknown key" + (f"; {hint}" if hint else
                                      f"; valid keys: {', '.join(k for k in fields if k != 'params')}")))
            continue
        kwargs[key] = convert(hints[key], raw, sub, issues, getattr(base, key))
        _check_bounds(fields[key], kwargs[key], sub, issues)
    merged = {f.name: getattr(base, f.name) for f in dataclasses.fields(tp)}
    merged.update(kwargs)
    return tp(**merged)


def _check_bounds(f: dataclasses.Field[Any], value: Any, path: str, issues: list[ConfigIssue]) -> None:
    """The schema's ``ge``/``gt``/``le``/``lt`` bounds, with the rules components use (finite numbers only)."""
    bounds = {k: f.metadata[k] for k in ("ge", "gt", "le", "lt") if k in f.metadata}
    if bounds:
        problem = Range(**bounds).problem(value, {})
        if problem:
            issues.append(ConfigIssue(path, problem))


def plain(data: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy made of plain dicts and lists."""
    return typing.cast(dict[str, Any], dump(dict(data)))
