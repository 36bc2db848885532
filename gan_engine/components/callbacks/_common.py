"""Small helpers shared by the built-in callbacks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L

__all__ = ["completed_iteration", "is_due", "iteration_of"]


def iteration_of(trainer: L.Trainer) -> int:
    """Training iterations completed so far: the module's ``iteration`` counter.

    Lightning's ``global_step`` counts optimizer steps (two per GAN iteration), so it is
    only the fallback for modules that keep no counter of their own.
    """
    module = trainer.lightning_module
    return int(getattr(module, "iteration", trainer.global_step))


def is_due(iteration: int, every_n_steps: int) -> bool:
    """Whether the just-completed ``iteration`` (1-based) falls on an ``every_n_steps`` cadence; 0 disables."""
    return every_n_steps > 0 and iteration > 0 and iteration % every_n_steps == 0


def completed_iteration(outputs: Any) -> int | None:
    """The iteration a training batch completed (``outputs["iteration"]``), or None.

    Batches that only accumulate a micro-batch return an empty dict, so a callback acting
    once per iteration (a snapshot, a histogram, a stop) tests this rather than the counter,
    which keeps its value across the micro-batches of the next iteration.
    """
    if isinstance(outputs, Mapping) and "iteration" in outputs:
        return int(outputs["iteration"])
    return None
