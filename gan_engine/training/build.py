"""Config → engine parts: normalisers, content losses, optimizers, schedules, callbacks.

The only place besides ``api.py`` and the module's constructor that reads a whole
:class:`~gan_engine.config.Config`; everything built here takes typed keywords.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import lightning as L
from torch import nn
from torch.optim import Optimizer

from gan_engine.components.losses.adversarial import AdversarialLoss
from gan_engine.components.losses.penalties import lazy_adam_hyperparameters
from gan_engine.components.tasks.base import Task
from gan_engine.config import Config
from gan_engine.registry import callbacks, losses, normalizers
from gan_engine.training.augment import DiscriminatorAugment
from gan_engine.training.objective import GANObjective
from gan_engine.training.optim import IterationLR, build_optimizer

__all__ = ["build_content_losses", "build_d_augment", "build_normalizers", "build_objective", "engine_callbacks",
           "optimizers_and_schedules"]


def build_normalizers(cfg: Config) -> nn.ModuleDict:
    """One normaliser per branch: ``lr`` and ``hr`` default to the main one, ``cond`` to identity."""
    norm = cfg.Normalization
    specs = {"lr": norm.lr or norm, "hr": norm.hr or norm}
    built = {branch: normalizers.build(spec.name, **spec.params) for branch, spec in specs.items()}
    cond = norm.cond
    built["cond"] = normalizers.build(cond.name, **cond.params) if cond else normalizers.build("identity")
    return nn.ModuleDict(built)


def build_content_losses(cfg: Config) -> tuple[nn.ModuleDict, dict[str, float]]:
    """The content terms by name (``name_i`` when a name repeats) and their weights."""
    names = [s.name for s in cfg.Losses.content]
    keys = [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]
    terms = nn.ModuleDict({k: losses.build(s.name, **s.params) for k, s in zip(keys, cfg.Losses.content)})
    return terms, {k: s.weight for k, s in zip(keys, cfg.Losses.content)}


def optimizers_and_schedules(cfg: Config, generator: nn.Module, discriminator: nn.Module, *, lazy_r1: bool
                             ) -> tuple[list[Optimizer], list[IterationLR]]:
    """``[G, D]`` optimizers and their iteration schedules; D's Adam is corrected for lazy R1."""
    o, sch, t = cfg.Optimizers, cfg.Schedulers, cfg.Training
    fused = t.precision != "16"  # fp16's gradient scaler cannot unscale a fused optimizer before clipping
    opt_g = build_optimizer(generator, **asdict(o.generator), fused=fused)
    d = asdict(o.discriminator)
    if lazy_r1:  # R1 steps per main discriminator steps: d_reg_every / d_update_interval
        interval = t.Stability.d_reg_every / t.d_update_interval
        d["lr"], d["betas"] = lazy_adam_hyperparameters(d["lr"], d["betas"], interval)
    opt_d = build_optimizer(discriminator, **d, fused=fused)
    sched_g = IterationLR(opt_g, total_steps=t.max_steps, **asdict(sch.generator))
    sched_d = IterationLR(opt_d, total_steps=t.max_steps - t.pretrain_steps, **asdict(sch.discriminator))
    return [opt_g, opt_d], [sched_g, sched_d]


def engine_callbacks(cfg: Config) -> list[L.Callback]:
    """The callbacks a GAN run needs to be right: EMA, gradient norms, health, extra validation ones."""
    out: list[L.Callback] = []
    if cfg.Training.EMA.enabled:
        ema: dict[str, Any] = asdict(cfg.Training.EMA)
        del ema["enabled"]
        out.append(callbacks.build("ema", **ema))
    if cfg.Callbacks.gradient_norm.enabled:
        out.append(callbacks.build("gradient_norm", warn_above=cfg.Callbacks.gradient_norm.warn_above))
    if cfg.Callbacks.health.enabled:
        h = cfg.Callbacks.health
        out.append(callbacks.build("gan_health", collapse_patience=h.collapse_patience,
                                   collapse_margin=h.collapse_margin))
    out += [callbacks.build(spec.name, **spec.params) for spec in cfg.Callbacks.extra_validation]
    return out


def build_d_augment(cfg: Config) -> DiscriminatorAugment | None:
    """The discriminator augmentation of ``Training.d_augment``, or ``None`` when its policy is empty."""
    a = cfg.Training.d_augment
    if not a.policy:
        return None
    p = a.p if a.p is not None else (0.0 if a.adaptive else 1.0)
    return DiscriminatorAugment(a.policy, p=p, adaptive=a.adaptive, target=a.target, interval=a.interval,
                                speed_images=a.speed_images, translation=a.translation, cutout=a.cutout)


def build_objective(cfg: Config, task: Task, adversarial: AdversarialLoss, content: Mapping[str, nn.Module],
                    content_weights: Mapping[str, float], augment: DiscriminatorAugment | None = None
                    ) -> GANObjective:
    """The run's :class:`GANObjective`; its penalties are the ``ge.losses`` components ``r1``, ``gradient_penalty``."""
    s = cfg.Training.Stability
    r1 = losses.build("r1", gamma=s.r1_gamma, interval=s.d_reg_every) if s.r1_gamma > 0 else None
    gp = losses.build("gradient_penalty", weight=s.gp_weight) if s.gp_weight > 0 else None
    return GANObjective(task, adversarial, content, content_weights, r1=r1, gradient_penalty=gp,
                        label_smoothing=cfg.Training.label_smoothing, feature_matching=cfg.Losses.feature_matching,
                        augment=augment)
