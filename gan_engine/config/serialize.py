"""Configuration objects as plain data (dicts, lists, scalars) for YAML and JSON.

It knows the schema only by shape — dataclasses, and component specs (a dataclass with
``name`` and ``params``) whose parameters sit beside the name — so the schema can use it
without an import cycle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["dump"]


def _is_component(obj: Any) -> bool:
    names = {f.name for f in dataclasses.fields(obj)}
    return {"name", "params"} <= names and isinstance(getattr(obj, "params", None), Mapping)


def dump(obj: Any) -> Any:
    """The plain-data form of a config object (dataclasses → dicts), for YAML and JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if _is_component(obj):
            out: dict[str, Any] = {"name": obj.name}  # type: ignore[attr-defined]
            for f in dataclasses.fields(obj):
                if f.name not in ("name", "params"):
                    out[f.name] = dump(getattr(obj, f.name))
            out.update({k: dump(v) for k, v in obj.params.items()})  # type: ignore[attr-defined]
            return out
        return {f.name: dump(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): dump(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [dump(v) for v in obj]
    return obj
