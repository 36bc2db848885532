r"""What happens at each training iteration: phases, the adversarial weight, warm-ups.

All counts are *iterations* (batches that complete a generator iteration, see
:class:`~gan_engine.training.module.GANModule`), never Lightning's ``global_step``, which
counts optimizer steps and so advances twice per adversarial iteration.

Ramps map a progress :math:`p \in [0, 1]` to a factor in :math:`[0, 1]`:

- ``linear``: :math:`p`
- ``cosine``: :math:`\tfrac12 (1 - \cos \pi p)`
- ``sigmoid``: a logistic curve :math:`\sigma(12 (p - \tfrac12))`, rescaled to pass
  through 0 at :math:`p = 0` and 1 at :math:`p = 1`
- ``none``: 1 (the full value at once)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RAMPS", "IterationPlan", "adversarial_weight", "plan_iteration", "ramp", "warmup_factor"]


def _sigmoid_ramp(p: float) -> float:
    low, high = 1.0 / (1.0 + math.exp(6.0)), 1.0 / (1.0 + math.exp(-6.0))
    return (1.0 / (1.0 + math.exp(-12.0 * (p - 0.5))) - low) / (high - low)


RAMPS: dict[str, Callable[[float], float]] = {
    "linear": lambda p: p,
    "cosine": lambda p: 0.5 * (1.0 - math.cos(math.pi * p)),
    "sigmoid": _sigmoid_ramp,
    "none": lambda p: 1.0,
}


def ramp(progress: float, schedule: str) -> float:
    """The ramp ``schedule`` at ``progress`` (clipped to [0, 1])."""
    if schedule not in RAMPS:
        raise ValueError(f"unknown ramp {schedule!r}; expected one of {', '.join(RAMPS)}")
    return RAMPS[schedule](min(max(progress, 0.0), 1.0))


def adversarial_weight(iteration: int, pretrain_steps: int, weight: float, ramp_steps: int, schedule: str) -> float:
    r"""The generator's adversarial weight during iteration ``iteration`` (0-based).

    Exactly 0 while pretraining (``iteration < pretrain_steps``). Then, with
    :math:`a` the adversarial iteration (0 for the first one) and :math:`R` = ``ramp_steps``,
    :math:`w = \beta \cdot \mathrm{ramp}\big(\min(1, (a + 1) / R)\big)`, so the ramp reaches the
    full weight :math:`\beta` on its :math:`R`-th iteration; :math:`R = 0` or ``none`` gives
    :math:`\beta` at once.
    """
    if iteration < pretrain_steps:
        return 0.0
    if ramp_steps <= 0:
        return weight
    return weight * ramp((iteration - pretrain_steps + 1) / ramp_steps, schedule)


def warmup_factor(step: int, warmup_steps: int, shape: str, floor: float) -> float:
    r"""Learning-rate warm-up factor for scheduler step ``step`` (0-based).

    :math:`\max(\text{floor}, \mathrm{ramp}((k + 1) / W))` while :math:`k < W`, then 1. The
    floor keeps the first iterations from running at a learning rate of almost 0.
    """
    if step >= warmup_steps:
        return 1.0
    return max(floor, ramp((step + 1) / warmup_steps, shape))


@dataclass(frozen=True)
class IterationPlan:
    """The phases one iteration runs, and the adversarial weight it uses."""

    iteration: int  #: 0-based index of the iteration
    pretraining: bool  #: generator-only iteration: no discriminator forward at all
    discriminator_step: bool
    regularizer_step: bool  #: lazy R1 step of the discriminator
    generator_step: bool
    adversarial_weight: float


def plan_iteration(iteration: int, *, pretrain_steps: int, d_update_interval: int, g_update_interval: int,
                   r1_interval: int, weight: float, ramp_steps: int, ramp_schedule: str) -> IterationPlan:
    """Decide the phases of iteration ``iteration``.

    Pretraining iterations update the generator only. Adversarial iteration ``a`` (0 at
    the first) updates the discriminator when ``a % d_update_interval == 0``, and updates the
    generator when ``a % g_update_interval == 0``. The lazy R1 step (``r1_interval > 1``)
    comes with every ``r1_interval``-th *discriminator* step: its gain ``r1_interval`` and the
    Adam correction ``k / (k + 1)`` both count discriminator steps, so lazy R1 is as strong on
    average as R1 in every discriminator loss, whatever ``d_update_interval``.
    """
    w = adversarial_weight(iteration, pretrain_steps, weight, ramp_steps, ramp_schedule)
    if iteration < pretrain_steps:
        return IterationPlan(iteration, True, False, False, True, w)
    a = iteration - pretrain_steps
    d_step = a % d_update_interval == 0
    return IterationPlan(
        iteration=iteration,
        pretraining=False,
        discriminator_step=d_step,
        regularizer_step=d_step and r1_interval > 1 and (a // d_update_interval) % r1_interval == 0,
        generator_step=a % g_update_interval == 0,
        adversarial_weight=w,
    )
