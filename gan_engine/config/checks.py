"""Checks that need the registries: component names, their parameters, and cross-section rules.

They run after the structural conversion and also fill in values derived from other
sections (a generator's band count from ``Data.bands``, its scale from ``Task.scale``), so
the resolved config written next to a run states everything.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator
from typing import Any

from gan_engine.config.schema import ComponentSpec, Config
from gan_engine.errors import ConfigIssue, GanEngineError, did_you_mean
from gan_engine.registry import Registry, accepts_keyword, all_registries

__all__ = ["check_config", "iter_components"]

#: Trainer keywords that Lightning refuses (or gan_engine owns) under manual optimisation.
_TRAINER_OWNED = {
    "gradient_clip_val": "Training.Stability.gradient_clip_val",
    "gradient_clip_algorithm": "Training.Stability.gradient_clip_algorithm",
    "accumulate_grad_batches": "Training.accumulate_grad_batches",
    "max_steps": "Training.max_steps (it counts generator iterations, not optimizer steps)",
    "precision": "Training.precision",
}


def iter_components(obj: Any, path: str = "") -> Iterator[tuple[str, str, ComponentSpec]]:
    """Yield ``(path, registry kind, spec)`` for every component spec inside ``obj``."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        sub = f"{path}.{f.name}".lstrip(".")
        kind = f.metadata.get("registry")
        if kind and isinstance(value, ComponentSpec):
            yield sub, kind, value
        elif kind and isinstance(value, list):
            for i, item in enumerate(value):
                yield f"{sub}.{i}", kind, item
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from iter_components(value, sub)


def check_config(cfg: Config) -> list[ConfigIssue]:
    """Every problem found in ``cfg``; fills in derived component parameters on the way."""
    issues: list[ConfigIssue] = []
    registries = all_registries()
    known: dict[str, Any] = {}
    for path, kind, spec in iter_components(cfg):
        obj = _lookup(registries[kind], spec, path, issues)
        if obj is not None:
            known[path] = obj
    if not issues:
        _resolve_derived(cfg, known, issues)
    for path, kind, spec in iter_components(cfg):
        if path in known:
            for key, msg in registries[kind].check_params(spec.name, spec.params):
                issues.append(ConfigIssue(f"{path}.{key}", msg))
    for path, _kind, spec in iter_components(cfg):
        if path in known:
            _fill_defaults(spec, known[path])
    issues.extend(_check_loss_kinds(cfg, known))
    issues.extend(_check_training(cfg))
    issues.extend(_check_trainer(cfg.Trainer))
    issues.extend(_check_names(cfg))
    return issues


def _lookup(reg: Registry[Any], spec: ComponentSpec, path: str, issues: list[ConfigIssue]) -> Any:
    if spec.name not in reg:
        hint = did_you_mean(spec.name, reg.names())
        issues.append(ConfigIssue(f"{path}.name", f"no {reg.kind} component is named {spec.name!r}"
                                  + (f"; {hint}" if hint else "") + f" Available: {', '.join(reg.names())}."))
        return None
    try:
        return reg.get(spec.name)
    except GanEngineError as exc:
        issues.append(ConfigIssue(f"{path}.name", str(exc)))
        return None


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


def _resolve_derived(cfg: Config, known: dict[str, Any], issues: list[ConfigIssue]) -> None:
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
    issues.extend(_check_content_target(cfg, task))
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


def _check_content_target(cfg: Config, task: Any) -> list[ConfigIssue]:
    """A task without a content target (synthesis) takes no content loss and no pretraining."""
    if getattr(task, "has_content_target", True):
        return []
    issues = []
    if cfg.Losses.content:
        issues.append(ConfigIssue("Losses.content", f"the task {cfg.Task.name!r} has no target to compare the "
                                  "output with; set 'Losses.content: []'"))
    if cfg.Training.pretrain_steps:
        issues.append(ConfigIssue("Training.pretrain_steps", f"is {cfg.Training.pretrain_steps}, but the task "
                                  f"{cfg.Task.name!r} has no content target to pretrain the generator on; set 0"))
    return issues


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


def _check_loss_kinds(cfg: Config, known: dict[str, Any]) -> list[ConfigIssue]:
    issues = []
    for i, spec in enumerate(cfg.Losses.content):
        obj = known.get(f"Losses.content.{i}")
        if obj is not None and getattr(obj, "kind", "content") == "adversarial":
            issues.append(ConfigIssue(f"Losses.content.{i}.name", f"{spec.name!r} is an adversarial loss; "
                                      "put it under Losses.adversarial"))
    adv = known.get("Losses.adversarial")
    if adv is not None and getattr(adv, "kind", None) != "adversarial":
        issues.append(ConfigIssue("Losses.adversarial.name", f"{cfg.Losses.adversarial.name!r} is not an "
                                  "adversarial loss (bce, hinge, wasserstein, lsgan, relativistic, ...)"))
    if adv is not None and cfg.Training.label_smoothing > 0 and not getattr(adv, "supports_label_smoothing", True):
        issues.append(ConfigIssue("Training.label_smoothing", f"the {cfg.Losses.adversarial.name!r} loss has no real "
                                  "target to smooth; set 0 or use bce, lsgan or relativistic"))
    disc = known.get("Discriminator")
    if cfg.Losses.feature_matching > 0 and disc is not None and not getattr(disc, "returns_features", False):
        issues.append(ConfigIssue("Losses.feature_matching", f"discriminator {cfg.Discriminator.name!r} does "
                                  "not return intermediate features; set 0 or choose one that does"))
    return issues


def _check_training(cfg: Config) -> list[ConfigIssue]:
    t, issues = cfg.Training, []
    if not t.manual_optimization:
        issues.append(ConfigIssue("Training.manual_optimization", "must be true: Lightning 2 no longer "
                                  "alternates several optimizers automatically, so GAN training uses manual "
                                  "optimisation (remove the key or set it to true)"))
    if t.pretrain_steps and t.pretrain_steps >= t.max_steps:
        issues.append(ConfigIssue("Training.pretrain_steps", f"is {t.pretrain_steps} but must be below "
                                  f"Training.max_steps ({t.max_steps}), or no adversarial iteration runs"))
    if cfg.Logging.rgb_bands is not None and len(cfg.Logging.rgb_bands) not in (1, 3):
        issues.append(ConfigIssue("Logging.rgb_bands", "give 3 band indices (red, green, blue) or 1 (grey)"))
    if len(cfg.Optimizers.generator.betas) != 2 or len(cfg.Optimizers.discriminator.betas) != 2:
        issues.append(ConfigIssue("Optimizers", "betas must be a list of two numbers"))
    return issues


def _check_names(cfg: Config) -> list[ConfigIssue]:
    """Run and project names become one folder under ``Project.output_dir``: no separators, no ``..``."""
    issues = []
    for key, value in (("Project.name", cfg.Project.name), ("Project.run_name", cfg.Project.run_name)):
        if value is None:
            continue
        bad = (not value.strip() or value in (".", "..") or any(c in value for c in "/\\") or ".." in value
               or not value.isprintable() or value != value.strip())
        if bad:
            issues.append(ConfigIssue(key, f"is {value!r}; it names one folder under Project.output_dir, so it must "
                                      "be a plain name without '/', '\\', '..', surrounding spaces or control "
                                      "characters (e.g. 'sr-x4-sentinel2')"))
    return issues


def _check_trainer(trainer: dict[str, Any]) -> list[ConfigIssue]:
    issues = []
    limit = trainer.get("limit_train_batches")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit <= 0):
        issues.append(ConfigIssue("Trainer.limit_train_batches", f"is {limit!r}; it must be a fraction in (0, 1] "
                                  "or a number of batches ≥ 1 (--limit-train-batches), else no iteration runs"))
    for key in trainer:
        if key in _TRAINER_OWNED:
            issues.append(ConfigIssue(f"Trainer.{key}", f"is set by gan_engine under manual optimisation; "
                                      f"use {_TRAINER_OWNED[key]} instead"))
    rest = [k for k in trainer if k not in _TRAINER_OWNED]
    if rest:
        from lightning import Trainer

        accepted = list(inspect.signature(Trainer.__init__).parameters)[1:]
        for key in rest:
            if key not in accepted:
                hint = did_you_mean(key, accepted)
                issues.append(ConfigIssue(f"Trainer.{key}", "lightning.Trainer has no such argument"
                                          + (f"; {hint}" if hint else "")))
    return issues
