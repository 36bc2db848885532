"""Checks that need the registries: component names, their parameters, and cross-section rules.

They run on a resolved config (:func:`gan_engine.config.resolve.resolve`) and only report:
:func:`check_config` changes nothing in the config it is given.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator
from typing import Any

from gan_engine.config.schema import ComponentSpec, Config
from gan_engine.errors import ConfigIssue, GanEngineError, did_you_mean
from gan_engine.registry import Registry, all_registries

__all__ = ["check_config", "iter_components", "known_components"]

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


def known_components(cfg: Config, issues: list[ConfigIssue] | None = None) -> dict[str, Any]:
    """The registered object of each component path of ``cfg``; unknown names go to ``issues``."""
    registries, known = all_registries(), {}
    for path, kind, spec in iter_components(cfg):
        obj = _lookup(registries[kind], spec, path, [] if issues is None else issues)
        if obj is not None:
            known[path] = obj
    return known


def check_config(cfg: Config) -> list[ConfigIssue]:
    """Every problem found in ``cfg`` (best resolved first); ``cfg`` is not changed."""
    issues: list[ConfigIssue] = []
    registries = all_registries()
    known = known_components(cfg, issues)
    for path, kind, spec in iter_components(cfg):
        if path in known:
            for key, msg in registries[kind].check_params(spec.name, spec.params):
                issues.append(ConfigIssue(f"{path}.{key}", msg))
    if "Task" in known:
        issues.extend(_check_content_target(cfg, known["Task"]))
    issues.extend(_check_loss_kinds(cfg, known))
    issues.extend(_check_training(cfg))
    issues.extend(_check_degradation(cfg))
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


def _check_loss_kinds(cfg: Config, known: dict[str, Any]) -> list[ConfigIssue]:
    issues = []
    for i, spec in enumerate(cfg.Losses.content):
        obj = known.get(f"Losses.content.{i}")
        kind = getattr(obj, "kind", "content") if obj is not None else "content"
        if kind == "adversarial":
            issues.append(ConfigIssue(f"Losses.content.{i}.name", f"{spec.name!r} is an adversarial loss; "
                                      "put it under Losses.adversarial"))
        elif kind == "penalty":
            issues.append(ConfigIssue(f"Losses.content.{i}.name", f"{spec.name!r} is a discriminator penalty; "
                                      "set Training.Stability.r1_gamma or gp_weight instead"))
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


def _check_degradation(cfg: Config) -> list[ConfigIssue]:
    """``Data.degradation``: a known model of the ``degradations`` registry, with parameters it accepts."""
    from gan_engine.components.degradations.base import degradation_problems

    spec = cfg.Data.params.get("degradation")
    scale = cfg.Data.params.get("scale")
    return degradation_problems(scale if isinstance(scale, int) else None, spec)


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
    strategy = trainer.get("strategy")
    if str(strategy).startswith("deepspeed") or type(strategy).__name__ == "DeepSpeedStrategy":
        from gan_engine.training.sharding import DEEPSPEED_UNSUPPORTED

        issues.append(ConfigIssue("Trainer.strategy", f"is {strategy!r}: {DEEPSPEED_UNSUPPORTED}"))
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
