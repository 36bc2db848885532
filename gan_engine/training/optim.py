r"""Optimizers and learning-rate schedules of the two networks.

Lightning does not step schedulers under manual optimisation, so :class:`IterationLR`
is stepped by the module: once per iteration for the generator, once per adversarial
iteration for the discriminator (it does not train before). Its learning rate at
scheduler step :math:`k` (0-based) is

.. math:: \mathrm{lr}_k = \mathrm{lr}_0 \cdot \mathrm{warmup}(k) \cdot \mathrm{shape}(k) \cdot m

with the warm-up of :func:`~gan_engine.training.schedules.warmup_factor`, the shape
``constant`` (1), ``cosine`` (from 1 down to ``min_lr_ratio`` over the iterations after
the warm-up), ``onecycle`` (a cosine rise from 1/25 to 1 over the first ``pct_start`` of
the iterations, then a cosine decay to ``min_lr_ratio``, or 1/25 000 when that is 0), or
``plateau`` (constant), and :math:`m` the product of the plateau cuts: the ``plateau``
schedule multiplies :math:`m` by ``factor`` after ``patience`` validations without
improvement of its monitored metric (:meth:`IterationLR.observe`). Because the cuts live in
:math:`m`, a warm-up never overwrites them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from gan_engine.training.schedules import ramp, warmup_factor

__all__ = ["OPTIMIZERS", "SHAPES", "IterationLR", "build_optimizer", "clip_gradients_", "observe_plateaus",
           "parameter_groups"]

OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def parameter_groups(module: nn.Module, weight_decay: float, no_decay_bias_and_norm: bool) -> list[dict[str, Any]]:
    """Trainable parameters of ``module``, with biases and normalisation weights exempt from decay.

    A parameter with at most one dimension is a bias, a normalisation scale or a PReLU
    slope: decaying it towards 0 only hurts.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(module).__name__} has no trainable parameters to optimise")
    if not (no_decay_bias_and_norm and weight_decay > 0):
        return [{"params": params, "weight_decay": weight_decay}]
    decay = [p for p in params if p.ndim > 1]
    exempt = [p for p in params if p.ndim <= 1]
    return [g for g in ({"params": decay, "weight_decay": weight_decay}, {"params": exempt, "weight_decay": 0.0})
            if g["params"]]


def build_optimizer(module: nn.Module, *, name: str, lr: float, betas: Sequence[float], eps: float,
                    weight_decay: float, no_decay_bias_and_norm: bool, fused: bool) -> Optimizer:
    """An ``adam`` or ``adamw`` optimizer over ``module``'s trainable parameters.

    Args:
        fused: ask for the fused kernel (it can skip a step on the device, without a host
            synchronisation, see :mod:`gan_engine.training.nonfinite`); falls back to the
            default implementation where the parameters' device has no fused kernel.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    groups = parameter_groups(module, weight_decay, no_decay_bias_and_norm)
    kwargs: dict[str, Any] = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
    if fused:
        try:
            return OPTIMIZERS[name](groups, fused=True, **kwargs)
        except (RuntimeError, ValueError):  # no fused kernel for this device or dtype
            pass
    return OPTIMIZERS[name](groups, **kwargs)


def clip_gradients_(optimizer: Optimizer, value: float, algorithm: str) -> None:
    """Clip the gradients of ``optimizer``'s parameters in place: their global 2-norm, or each value."""
    params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    if algorithm == "norm":
        torch.nn.utils.clip_grad_norm_(params, value, foreach=True)
    elif algorithm == "value":
        torch.nn.utils.clip_grad_value_(params, value, foreach=True)
    else:
        raise ValueError(f"unknown clipping algorithm {algorithm!r}; expected 'norm' or 'value'")


def _cosine(progress: float, low: float) -> float:
    return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def _constant(s: IterationLR, k: int) -> float:
    return 1.0


def _cosine_shape(s: IterationLR, k: int) -> float:
    span = max(1, s.total_steps - s.warmup_steps)
    return _cosine((k - s.warmup_steps) / span, s.min_lr_ratio)


def _onecycle(s: IterationLR, k: int) -> float:
    rise = max(1, round(s.pct_start * s.total_steps))
    if k < rise:
        return 1.0 / 25.0 + (1.0 - 1.0 / 25.0) * ramp(k / rise, "cosine")
    final = s.min_lr_ratio if s.min_lr_ratio > 0 else 1.0 / 25_000.0
    return _cosine((k - rise) / max(1, s.total_steps - rise), final)


SHAPES: dict[str, Callable[[IterationLR, int], float]] = {
    "constant": _constant, "cosine": _cosine_shape, "onecycle": _onecycle, "plateau": _constant,
}


class IterationLR(LRScheduler):
    """Warm-up × shape × plateau cuts, stepped once per iteration (see the module docstring).

    Args:
        optimizer: the optimizer whose groups it drives.
        name: ``constant``, ``cosine``, ``onecycle`` or ``plateau``.
        total_steps: scheduler steps of the whole run (for ``cosine`` and ``onecycle``).
        warmup_steps, warmup, warmup_floor: the warm-up (see ``warmup_factor``).
        min_lr_ratio, pct_start: shape parameters.
        monitor, mode, patience, factor: the plateau rule (used by ``plateau`` only).
    """

    def __init__(self, optimizer: Optimizer, *, name: str = "constant", total_steps: int = 1, warmup_steps: int = 0,
                 warmup: str = "linear", warmup_floor: float = 0.05, min_lr_ratio: float = 0.0,
                 pct_start: float = 0.3, monitor: str = "val/psnr", mode: str = "max", patience: int = 5,
                 factor: float = 0.5) -> None:
        if name not in SHAPES:
            raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SHAPES)}")
        self.name, self.total_steps = name, max(1, total_steps)
        self.warmup_steps, self.warmup, self.warmup_floor = warmup_steps, warmup, warmup_floor
        self.min_lr_ratio, self.pct_start = min_lr_ratio, pct_start
        self.monitor, self.mode, self.patience, self.factor = monitor, mode, patience, factor
        self.multiplier = 1.0
        self.best: float | None = None
        self.bad_validations = 0
        super().__init__(optimizer)

    @property
    def watches_metric(self) -> bool:
        """Whether :meth:`observe` should be fed the monitored metric after each validation."""
        return self.name == "plateau"

    def factor_at(self, step: int) -> float:
        """Warm-up × shape factor of scheduler step ``step`` (without the plateau cuts)."""
        return warmup_factor(step, self.warmup_steps, self.warmup, self.warmup_floor) * SHAPES[self.name](self, step)

    def get_lr(self) -> list[float | Tensor]:
        f = self.factor_at(self.last_epoch) * self.multiplier
        return [base * f for base in self.base_lrs]

    def observe(self, value: float) -> bool:
        """Feed one validation value of the monitored metric; returns True when it cut the rate."""
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if better and math.isfinite(value):
            self.best, self.bad_validations = value, 0
            return False
        self.bad_validations += 1
        if self.bad_validations <= self.patience:
            return False
        self.bad_validations = 0
        self.multiplier *= self.factor
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]
        return True


def observe_plateaus(schedules: Mapping[str, IterationLR], metrics: Mapping[str, Any], warned: set[str]) -> None:
    """Feed each ``plateau`` schedule its monitored metric after a validation.

    A metric that was not logged gives one warning (per metric name, tracked in ``warned``),
    listing the metrics that were.
    """
    for network, sched in schedules.items():
        if not sched.watches_metric:
            continue
        value = metrics.get(sched.monitor)
        if value is not None:
            sched.observe(float(value))
        elif sched.monitor not in warned:
            warned.add(sched.monitor)
            rank_zero_warn(f"the plateau schedule of the {network} watches {sched.monitor!r}, which was not logged; "
                           f"logged metrics: {sorted(metrics)}. Set Schedulers.{network}.monitor to one of them")
