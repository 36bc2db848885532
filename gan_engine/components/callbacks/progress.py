"""A progress bar that shows what a GAN run needs: the iteration and the latest losses."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from typing_extensions import override

from gan_engine.components.callbacks._common import iteration_of
from gan_engine.components.callbacks.records import scalar_metrics
from gan_engine.registry import callbacks

__all__ = ["GANProgressBar"]

#: Logged name → short label in the bar.
SHOWN = {"train/g_total": "loss_g", "train/d_adversarial": "loss_d", "val/psnr": "val_psnr"}


@callbacks.register("progress_bar")
class GANProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, in a terminal or a notebook, with ``iter=i/N`` and the latest losses.

    Losses are read from the accelerator only on logging iterations (when the engine has
    just logged them) and shown until the next ones, so the bar adds no per-step host sync.

    Args:
        max_steps: training iterations of the run, shown as the denominator.
        every_n_steps: iterations between two reads of the losses.
        refresh_rate: batches between two redraws of the bar.
    """

    def __init__(self, max_steps: int = 0, every_n_steps: int = 50, refresh_rate: int = 1) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self.max_steps, self.every_n_steps = max_steps, max(1, every_n_steps)
        self._shown: dict[str, float] = {}
        self._read_at = -1

    @override
    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        iteration = iteration_of(trainer)
        if iteration != self._read_at and (iteration % self.every_n_steps == 0 or not self._shown):
            values = scalar_metrics({k: v for k, v in trainer.callback_metrics.items() if k in SHOWN})
            self._shown = {SHOWN[k]: round(v, 4) for k, v in values.items()}
            self._read_at = iteration
        total = f"/{self.max_steps}" if self.max_steps else ""
        return {"iter": f"{iteration}{total}", **self._shown}
