"""``MicroBatch``: one prepared batch of an iteration, as the objective's loss functions take it."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

__all__ = ["MicroBatch"]


@dataclass
class MicroBatch:
    """One prepared (normalised) batch of an iteration.

    Attributes:
        batch: the task's branches (``lr``, ``hr``, ``cond``, ``mask``, ...), normalised, on the device.
        fake: the generator's output computed once before the phases and shared by them (only when
            the iteration has a single micro-batch and a generator step); ``None`` otherwise.
        generated: the generator's output of the generator phase, detached, for callbacks.
    """

    batch: dict[str, Tensor]
    fake: Tensor | None = None
    generated: Tensor | None = field(default=None, repr=False)
