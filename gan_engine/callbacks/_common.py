"""Small helpers shared by the built-in callbacks."""

from __future__ import annotations

import lightning as L

__all__ = ["iteration_of"]


def iteration_of(trainer: L.Trainer) -> int:
    """Training iterations completed so far: the module's ``iteration`` counter.

    Lightning's ``global_step`` counts optimizer steps (two per GAN iteration), so it is
    only the fallback for modules that keep no counter of their own.
    """
    module = trainer.lightning_module
    return int(getattr(module, "iteration", trainer.global_step))
