"""Small helpers shared by the built-in callbacks."""

from __future__ import annotations

import lightning as L

__all__ = ["is_due", "iteration_of"]


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
