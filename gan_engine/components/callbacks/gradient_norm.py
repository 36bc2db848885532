"""Gradient norms of each network, before and after clipping, at the logging cadence.

The norm before clipping is taken in ``on_before_optimizer_step`` (Lightning calls the
callbacks' hook before the module's, where the module clips; under fp16 mixed precision
the gradients are already unscaled there). The norm after clipping is taken by an
optimizer step hook, after every ``on_before_optimizer_step``. On other iterations nothing
is computed, and nothing is read back to the host. Logged as
``grad_norm/<network>/before_clip`` and ``grad_norm/<network>/after_clip`` (2-norm over
all the network's gradients); the lazy-R1 step of the discriminator is not measured.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from torch.optim import Optimizer
from torch.utils.hooks import RemovableHandle
from typing_extensions import override

from gan_engine.registry import callbacks
from gan_engine.training.cadence import is_logging_step

__all__ = ["GradientNormMonitor", "total_grad_norm"]

_MEASURED_PHASES = ("generator", "discriminator")


def total_grad_norm(optimizer: Optimizer) -> Tensor | None:
    """2-norm of all gradients of ``optimizer``'s parameters (on the device), or None without gradients."""
    grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    if not grads:
        return None
    from gan_engine.training.sharding import full_tensor  # FSDP: the norm of the whole network

    return full_tensor(torch.nn.utils.get_total_norm(grads))


@callbacks.register("gradient_norm")
class GradientNormMonitor(Callback):
    """Log each network's gradient norm before and after clipping; warn once above a threshold.

    Args:
        warn_above: warn (once per run) when a norm before clipping exceeds this value.
    """

    def __init__(self, warn_above: float = 1000.0) -> None:
        self.warn_above = warn_above
        self._values: dict[str, Tensor] = {}
        self._armed: dict[int, str] = {}
        self._handles: list[RemovableHandle] = []
        self._warned = False

    @override
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._handles = [opt.register_step_post_hook(self._after_step) for opt in trainer.optimizers]

    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @override
    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Optimizer) -> None:
        phase = getattr(pl_module, "current_phase", None)
        if phase not in _MEASURED_PHASES or not is_logging_step(trainer):
            return
        norm = total_grad_norm(optimizer)
        if norm is not None:
            self._values[f"grad_norm/{phase}/before_clip"] = norm
            self._armed[id(optimizer)] = phase

    def _after_step(self, optimizer: Optimizer, args: Any, kwargs: Any) -> None:
        phase = self._armed.pop(id(optimizer), None)
        if phase is not None:
            norm = total_grad_norm(optimizer)
            if norm is not None:
                self._values[f"grad_norm/{phase}/after_clip"] = norm

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not self._values:
            return
        values, self._values, self._armed = self._values, {}, {}
        pl_module.log_dict(values, on_step=True, on_epoch=False, sync_dist=True, batch_size=1)
        if not self._warned:
            before = {k: float(v) for k, v in values.items() if k.endswith("before_clip")}  # logging step: read anyway
            high = {k: v for k, v in before.items() if v > self.warn_above}
            if high:
                self._warned = True
                rank_zero_warn(f"large gradient norms {high} (above {self.warn_above}); training may be unstable. "
                               "Consider Training.Stability.gradient_clip_val or lower learning rates "
                               "(this warning is shown once; Callbacks.gradient_norm.warn_above sets the threshold)")

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"warned": self._warned}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._warned = bool(state_dict.get("warned", False))
