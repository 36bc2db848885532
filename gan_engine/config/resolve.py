"""Resolving a configuration: the values one section implies for another, in one named step.

:func:`resolve` returns a copy of a parsed :class:`Config` in which each component states
everything it will be built with: a generator's band counts from ``Data.bands`` and the task,
its scale from ``Task.scale``, the facts a task states about other sections
(``derived_params``), and every plain default of a component's signature. So the resolved
config written next to a run is complete. A value given in the config that disagrees with the
one implied is reported, never overwritten; the config passed in is never changed.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

from gan_engine.config.checks import iter_components, known_components
from gan_engine.config.schema import ComponentSpec, Config
from gan_engine.errors import ConfigIssue
from gan_engine.registry import accepts_keyword, all_registries

__all__ = ["resolve"]


def resolve(cfg: Config) -> tuple[Config, list[ConfigIssue]]:
    """A copy of ``cfg`` with derived values and component defaults filled in, and the disagreements found.

    Components whose name no registry knows are left as they are (:func:`check_config`
    reports them).
    """
    out = copy.deepcopy(cfg)
    issues: list[ConfigIssue] = []
    lookup_failed: list[ConfigIssue] = []
    known = known_components(out, lookup_failed)
    if not lookup_failed:
        _derive_all(out, known, issues)
    for path, _kind, spec in iter_components(out):
        if path in known:
            _fill_defaults(spec, known[path])
    return out, issues


def _derive(spec: ComponentSpec, obj: Any, key: str, value: Any, path: str, source: str,
            issues: list[ConfigIssue]) -> None:
    """Fill ``spec.params[key]`` from another section, or report a disagreement with it."""
    if not accepts_keyword(obj, key):
        return
    if key not in spec.params:
        spec.params[key] = value
    elif spec.params[key] != value:
        issues.append(ConfigIssue(f"{path}.{key}", f"is {spec.params[key]!r} but {source} implies {value!r}; "
                                  f"make them agree, or remove {path}.{key} to derive it"))


def _derive_all(cfg: Config, known: dict[str, Any], issues: list[ConfigIssue]) -> None:
    try:
        task = all_registries()["tasks"].build(cfg.Task.name, **cfg.Task.params)
    except Exception as exc:  # reported with its path by the parameter check, or here
        if not any(i.path.startswith("Task") for i in issues):
            issues.append(ConfigIssue("Task", f"cannot build the task: {exc}"))
        return
    scale = int(getattr(task, "scale", 1))
    _derive(cfg.Data, known["Data"], "scale", scale, "Data", "Task.scale", issues)
    bands = cfg.Data.params.get("bands", _default_of(known["Data"], "bands"))
    if bands is None:
        return
    g_in, g_out = task.generator_channels(int(bands))
    source = f"Data.bands={bands} with task {cfg.Task.name!r}"
    # Further facts a task states about other sections (image_to_image's input bands for the
    # data, synthesis's latent size for the generator); only keys a component accepts.
    for section, values in getattr(task, "derived_params", lambda b: {})(int(bands)).items():
        for key, value in values.items():
            _derive(getattr(cfg, section), known[section], key, value, section, f"the task {cfg.Task.name!r}", issues)
    _derive(cfg.Generator, known["Generator"], "in_channels", g_in, "Generator", source, issues)
    _derive(cfg.Generator, known["Generator"], "out_channels", g_out, "Generator", source, issues)
    _derive(cfg.Generator, known["Generator"], "scale", scale, "Generator", "Task.scale", issues)
    supported = getattr(known["Generator"], "scales", None)
    if supported is not None and accepts_keyword(known["Generator"], "scale") and scale not in supported:
        issues.append(ConfigIssue("Generator.name", f"generator {cfg.Generator.name!r} supports scale "
                                  f"{' / '.join(map(str, supported))}, but Task.scale is {scale}; choose another "
                                  "generator or change Task.scale"))
    d_in = task.discriminator_channels(int(bands))
    _derive(cfg.Discriminator, known["Discriminator"], "in_channels", d_in, "Discriminator", source, issues)


_PLAIN = (bool, int, float, str, type(None))


def _fill_defaults(spec: ComponentSpec, obj: Any) -> None:
    """Write the component's plain default parameters into the spec, so the resolved config is complete."""
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return
    for name, p in params.items():
        if name not in spec.params and p.default is not inspect.Parameter.empty and isinstance(p.default, _PLAIN):
            spec.params[name] = p.default


def _default_of(obj: Any, key: str) -> Any:
    try:
        p = inspect.signature(obj).parameters.get(key)
    except (TypeError, ValueError):
        return None
    return None if p is None or p.default is inspect.Parameter.empty else p.default


