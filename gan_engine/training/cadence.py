"""When logging work happens: the Trainer's own logging cadence, shared by the module and callbacks."""

from __future__ import annotations

import lightning as L

__all__ = ["is_logging_step"]


def is_logging_step(trainer: L.Trainer) -> bool:
    """Whether the current training batch is one whose logged values the Trainer writes to its loggers.

    Lightning writes step-level values every ``Trainer(log_every_n_steps)`` batches (and when
    stopping); values computed on other batches are never written, so the engine computes
    expensive diagnostics (gradient norms, host reads) only on these batches. This is the
    same predicate Lightning's own ``LearningRateMonitor`` uses.
    """
    return bool(trainer._logger_connector.should_update_logs)
