"""The configuration reference page, generated from the schema so it cannot drift from it."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import yaml

from gan_engine.config.schema import ComponentSpec, Config
from gan_engine.config.serialize import dump

__all__ = ["config_reference_markdown"]

_HEADER = """# Configuration reference

Generated from `gan_engine.config.schema` by `gan_engine.config.reference`; do not edit by hand
(`tests/foundation/test_docs.py` fails when this page and the schema disagree).

Every key has a default, so an empty file is a valid configuration: the quickstart.
Component sections (marked *component*) hold a registry `name`; every other key in them is a
keyword argument of that component, checked against its constructor signature — see the
component reference pages for those parameters. Counts of steps are training iterations
(batches that update the generator).
"""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " or null"
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return "component" if issubclass(tp, ComponentSpec) else "section"
    return getattr(tp, "__name__", str(tp))


def _default_text(f: dataclasses.Field[Any]) -> str:
    value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    if dataclasses.is_dataclass(value) and not isinstance(value, ComponentSpec):
        return "(section)"
    if f.name == "name" and value == "":
        return "required"
    text = yaml.safe_dump(dump(value), default_flow_style=True, width=10_000, sort_keys=False).strip()
    return f"`{text.removesuffix('...').strip()}`"


def _section(tp: type, prefix: str, out: list[str], heading: bool = True) -> None:
    hints = typing.get_type_hints(tp)
    rows, nested = [], []
    for f in dataclasses.fields(tp):
        if f.name == "params":
            continue
        kind = _type_name(hints[f.name])
        doc = f.metadata.get("doc", "").replace("<", "&lt;").replace(">", "&gt;")
        if f.metadata.get("registry"):
            doc += f" Registry: `{f.metadata['registry']}`."
        bounds = ", ".join(f"{s} {f.metadata[k]}" for k, s in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
                           if k in f.metadata)
        name = f"{prefix}.{f.name}" if heading else f.name
        rows.append(f"| `{name}` | {kind} | {_default_text(f)} | {doc}{' (' + bounds + ')' if bounds else ''} |")
        inner = hints[f.name]
        if typing.get_origin(inner) is list:
            inner = typing.get_args(inner)[0]
        if isinstance(inner, type) and dataclasses.is_dataclass(inner) and inner is not ComponentSpec:
            nested.append((inner, f"{prefix}.{f.name}"))
    if heading:
        out += [f"## `{prefix}`", ""]
    if tp.__doc__ and not tp.__doc__.startswith(tp.__name__ + "("):
        out += [tp.__doc__.strip().split("\n")[0], ""]
    out += ["| key | type | default | meaning |", "|---|---|---|---|", *rows, ""]
    for inner, path in nested:
        _section(inner, path, out)


def config_reference_markdown() -> str:
    """The Markdown text of ``docs/reference/configuration.md``."""
    out = [_HEADER]
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        tp = hints[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp) and not issubclass(tp, ComponentSpec):
            _section(tp, f.name, out)
        else:
            out += [f"## `{f.name}`", "", f"{f.metadata.get('doc', '')}", "",
                    f"Type: {_type_name(tp)}. Default: {_default_text(f)}.", ""]
            if isinstance(tp, type) and issubclass(tp, ComponentSpec) and tp is not ComponentSpec:
                _section(tp, f.name, out, heading=False)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":  # python -m gan_engine.config.reference > docs/reference/configuration.md
    import sys

    sys.stdout.write(config_reference_markdown())
