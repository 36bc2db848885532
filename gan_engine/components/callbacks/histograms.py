"""Weight and gradient histograms of the generator and discriminator, at the logging cadence."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import Tensor
from typing_extensions import override

from gan_engine.components.callbacks._common import completed_iteration, is_due, iteration_of
from gan_engine.registry import callbacks

__all__ = ["Histograms"]

HistogramWriter = Callable[[str, Tensor, int], None]


def histogram_writer(trainer: L.Trainer) -> HistogramWriter | None:
    """A function writing a histogram to the first logger that keeps histograms, or ``None``."""
    for logger in trainer.loggers:
        experiment: Any = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_histogram"):  # TensorBoard's SummaryWriter
            return lambda tag, values, step: experiment.add_histogram(tag, values, global_step=step)
        if hasattr(logger, "log_image"):  # Weights & Biases
            import wandb

            return lambda tag, values, step: experiment.log({tag: wandb.Histogram(values.numpy())})  # type: ignore[arg-type]
    return None


@callbacks.register("histograms")
class Histograms(L.Callback):
    """Log histograms of the weights and gradients of every network of the module.

    Weights are read after the iteration; gradients just before each optimizer step (so
    after clipping), on logging iterations only. With a logger that keeps no histograms
    (CSV), the L2 norm of each network's weights or gradients is logged instead.

    Args:
        every_n_steps: iterations between two logs.
        parameters: log weight histograms.
        gradients: log gradient histograms.
    """

    def __init__(self, every_n_steps: int = 50, parameters: bool = True, gradients: bool = False) -> None:
        self.every_n_steps = max(1, every_n_steps)
        self.parameters, self.gradients = parameters, gradients
        self._writer: HistogramWriter | None = None

    def is_logging_iteration(self, iteration: int) -> bool:
        """Whether ``iteration`` (the number of iterations completed) is a logging iteration."""
        return is_due(iteration, self.every_n_steps)

    @override
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._writer = histogram_writer(trainer)
        if self._writer is None and trainer.is_global_zero:
            warnings.warn("Logging.log_parameters / log_gradients: the configured logger keeps no histograms, so "
                          "only the norms are logged; use Logging.logger: tensorboard or wandb for histograms",
                          UserWarning, stacklevel=2)

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        iteration = completed_iteration(outputs)  # once per iteration, also when accumulating
        if self.parameters and iteration is not None and self.is_logging_iteration(iteration):
            for name, child in pl_module.named_children():
                values = [p.detach() for p in child.parameters()]
                if values:
                    self._write(trainer, f"weights/{name}", values, iteration)

    @override
    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        iteration = iteration_of(trainer) + 1  # the iteration in progress
        if not self.gradients or not self.is_logging_iteration(iteration):
            return
        params = {id(p) for group in optimizer.param_groups for p in group["params"]}
        for name, child in pl_module.named_children():
            grads = [p.grad.detach() for p in child.parameters() if id(p) in params and p.grad is not None]
            if grads:
                self._write(trainer, f"gradients/{name}", grads, iteration)

    def _write(self, trainer: L.Trainer, tag: str, tensors: list[Tensor], iteration: int) -> None:
        if not trainer.is_global_zero:
            return
        if self._writer is not None:
            self._writer(tag, torch.cat([t.flatten().float() for t in tensors]).cpu(), iteration)
            return
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.float()) for t in tensors]))
        for logger in trainer.loggers:
            logger.log_metrics({f"{tag}_norm": float(norm)}, step=iteration)
