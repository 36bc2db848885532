"""JSON Schema of the configuration, generated from the dataclass schema (for editors and docs)."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

from gan_engine.config.schema import ComponentSpec, Config
from gan_engine.config.serialize import dump

__all__ = ["config_schema", "type_schema"]

_SCALARS = {bool: "boolean", int: "integer", float: "number", str: "string"}
_BOUND_KEYS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a whole gan_engine config file.

    Example:
        >>> import json
        >>> text = json.dumps(config_schema(), indent=2)  # save beside your configs for editors
    """
    schema = type_schema(Config)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "gan_engine configuration", **schema}


def type_schema(tp: Any) -> dict[str, Any]:
    """JSON Schema of one annotation of the config schema."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return {}
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return {"anyOf": [*(type_schema(a) for a in args), {"type": "null"}]}
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return {"type": "array", "items": type_schema(item)}
    if origin is dict or tp is dict:
        return {"type": "object"}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass_schema(tp)
    return {"type": _SCALARS.get(tp, "string")}


def _dataclass_schema(tp: type) -> dict[str, Any]:
    hints = typing.get_type_hints(tp)
    props: dict[str, Any] = {}
    component = issubclass(tp, ComponentSpec)
    for f in dataclasses.fields(tp):
        if f.name == "params":
            continue
        prop = type_schema(hints[f.name])
        prop["description"] = f.metadata.get("doc", "")
        if f.metadata.get("registry"):
            prop["description"] += f" (registry: {f.metadata['registry']})"
        for key, json_key in _BOUND_KEYS.items():
            if key in f.metadata:
                prop[json_key] = f.metadata[key]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if default is not dataclasses.MISSING:
            prop["default"] = dump(default)
        props[f.name] = prop
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": component}
    if tp.__doc__ and not tp.__doc__.startswith(tp.__name__ + "("):
        out["description"] = tp.__doc__.strip().split("\n")[0]
    if component:
        out["required"] = ["name"]
        out["description"] = (out.get("description", "") + " Other keys are the component's parameters.").strip()
    return out
