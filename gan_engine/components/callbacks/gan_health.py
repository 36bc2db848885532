r"""GAN health: the discriminator's mean scores, and a warning when it wins outright for long.

On iterations with a discriminator step the module returns the discriminator's outputs on
real and generated images. For probabilistic losses this callback logs
``health/d_real`` = mean :math:`\sigma(D(x))` and ``health/d_fake`` = mean
:math:`\sigma(D(G(z)))`; for critics (``is_critic``, e.g. ``wasserstein``) the raw means
``health/critic_real``, ``health/critic_fake`` and their gap ``health/critic_gap``.

The discriminator *wins outright* on an iteration when ``d_real > margin`` and
``d_fake < 1 - margin``: the generator then gets vanishing adversarial gradients. The
streak of such iterations is counted on the device and read at the logging cadence; a
warning is given once ``collapse_patience`` consecutive iterations are reached (again only
after the streak has been broken). Critics have no such scale, so no collapse test runs for
them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from typing_extensions import override

from gan_engine.registry import callbacks
from gan_engine.training.cadence import is_logging_step

__all__ = ["GANHealthMonitor"]


@callbacks.register("gan_health")
class GANHealthMonitor(Callback):
    """Log mean discriminator scores and warn about discriminator collapse (see the module docstring).

    Args:
        collapse_patience: consecutive winning iterations before the warning.
        collapse_margin: D wins when mean sigmoid(D(real)) > margin and mean sigmoid(D(fake)) < 1 - margin.
    """

    def __init__(self, collapse_patience: int = 200, collapse_margin: float = 0.95) -> None:
        if not 0.5 < collapse_margin < 1.0:
            raise ValueError(f"collapse_margin must be in (0.5, 1), got {collapse_margin}")
        self.collapse_patience, self.collapse_margin = collapse_patience, collapse_margin
        self._streak: Tensor | None = None
        self._saved_streak = 0
        self._warned = False

    def _scores(self, pl_module: L.LightningModule, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        if getattr(getattr(pl_module, "adversarial", None), "is_critic", False):
            r, f = real.float().mean(), fake.float().mean()
            return {"health/critic_real": r, "health/critic_fake": f, "health/critic_gap": r - f}
        return {"health/d_real": torch.sigmoid(real.float()).mean(),
                "health/d_fake": torch.sigmoid(fake.float()).mean()}

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not isinstance(outputs, Mapping) or outputs.get("real_scores") is None:
            return
        scores = self._scores(pl_module, outputs["real_scores"], outputs["fake_scores"])
        if "health/d_real" in scores:
            margin = self.collapse_margin
            wins = (scores["health/d_real"] > margin) & (scores["health/d_fake"] < 1 - margin)
            if self._streak is None:
                self._streak = torch.tensor(self._saved_streak, device=wins.device)
            self._streak = (self._streak + 1) * wins
        if not is_logging_step(trainer):
            return
        pl_module.log_dict(scores, on_step=True, on_epoch=False, sync_dist=True, batch_size=1)
        if self._streak is not None:
            self._check(int(self._streak))

    def _check(self, streak: int) -> None:
        if streak == 0:
            self._warned = False
        elif streak >= self.collapse_patience and not self._warned:
            self._warned = True
            rank_zero_warn(
                f"the discriminator has won outright for {streak} consecutive iterations (mean sigmoid(D(real)) > "
                f"{self.collapse_margin}, mean sigmoid(D(fake)) < {1 - self.collapse_margin:.2g}): the generator gets "
                "almost no adversarial signal. Consider a lower discriminator learning rate, "
                "Training.d_update_interval > 1, label smoothing, or an R1 penalty (Training.Stability.r1_gamma)")

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"streak": int(self._streak) if self._streak is not None else self._saved_streak,
                "warned": self._warned}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._saved_streak, self._streak = int(state_dict.get("streak", 0)), None
        self._warned = bool(state_dict.get("warned", False))
