"""Checkpoint writing: atomic files, top-k by a metric, periodic snapshots by iteration.

:class:`AtomicCheckpointIO` is a Lightning ``CheckpointIO`` plugin: every checkpoint is
written to a temporary file in the same folder and renamed over the target only once it
is complete, so a crash, a full disk or a kill during a write leaves the previous
``last.ckpt`` intact.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import Tensor
from typing_extensions import override

from gan_engine.callbacks._common import is_due, iteration_of
from gan_engine.registry import callbacks

__all__ = ["AtomicCheckpointIO", "BestCheckpoints", "PeriodicCheckpoint"]

log = logging.getLogger("gan_engine")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints to a temporary file, flush it to disk, then rename it into place."""

    @override
    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(checkpoint, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@callbacks.register("best_checkpoints")
class BestCheckpoints(ModelCheckpoint):
    """The best checkpoints by a metric (Lightning's ``ModelCheckpoint``) and an always-fresh ``last.ckpt``.

    Keeps the ``save_top_k`` best checkpoints by ``monitor`` as ``best-iter=0001200.ckpt``
    (file names count iterations, not Lightning's optimizer steps). ``last.ckpt`` is
    rewritten after every validation and at the end of training, whether or not the metric
    improved, and when the run is stopped by Ctrl-C or SIGTERM (a preempted job), so
    ``--resume`` loses little or nothing.

    Args:
        dirpath: folder of the checkpoints.
        monitor: metric ranking the checkpoints, e.g. ``"val/psnr"``; ``None`` keeps ``last.ckpt`` only.
        mode: ``"max"`` when higher is better, ``"min"`` otherwise.
        save_top_k: best checkpoints kept.
    """

    def __init__(self, dirpath: str | Path = "checkpoints", monitor: str | None = "val/psnr", mode: str = "max",
                 save_top_k: int = 1) -> None:
        # Lightning's own save_last refreshes last.ckpt only when a top-k file is written.
        super().__init__(dirpath=dirpath, filename="best-{iter:07d}", monitor=monitor, mode=mode,
                         save_top_k=save_top_k if monitor else 0, save_last=False, auto_insert_metric_name=True,
                         save_on_train_epoch_end=False)  # rank after validations, where the metrics are
        self._iteration = 0
        self._last_written: int | None = None

    @property
    def last_path(self) -> Path:
        """Where ``last.ckpt`` goes."""
        return Path(self.dirpath or ".") / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"

    def write_last(self, trainer: L.Trainer) -> None:
        """Write ``last.ckpt`` unless it already holds this iteration (or nothing should be saved)."""
        iteration = iteration_of(trainer)
        skip = trainer.sanity_checking or getattr(trainer, "fast_dev_run", False) or not self.dirpath
        if skip or self._last_written == iteration or iteration == 0:
            return
        trainer.save_checkpoint(self.last_path, weights_only=False)
        self._last_written = iteration

    @override
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        with warnings.catch_warnings():  # a resumed run continues in its own, non-empty, folder
            warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
            super().setup(trainer, pl_module, stage)

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._iteration = iteration_of(trainer)
        super().on_validation_end(trainer, pl_module)
        if trainer.state.fn == "fit":
            self.write_last(trainer)

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._iteration = iteration_of(trainer)
        super().on_train_end(trainer, pl_module)
        self.write_last(trainer)

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            self.write_last(trainer)
            log.info("stopped at iteration %d: %s written", iteration_of(trainer), self.last_path)

    @override
    def format_checkpoint_name(self, metrics: dict[str, Tensor], filename: str | None = None, ver: int | None = None,
                               prefix: str | None = None) -> str:
        return super().format_checkpoint_name({**metrics, "iter": torch.tensor(self._iteration)}, filename, ver,
                                              prefix)


@callbacks.register("periodic_checkpoint")
class PeriodicCheckpoint(L.Callback):
    """Keep a snapshot every ``every_n_steps`` training iterations, as ``iter-0005000.ckpt``.

    Iterations are batches that update the generator (the module's ``iteration``), not
    Lightning's ``global_step``. Snapshots are never deleted.

    Args:
        dirpath: folder of the snapshots.
        every_n_steps: iterations between snapshots; 0 disables them.
    """

    def __init__(self, dirpath: str | Path = "checkpoints", every_n_steps: int = 0) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps = every_n_steps
        self.saved: list[Path] = []

    def should_save(self, iteration: int) -> bool:
        """Whether the iteration just completed gets a snapshot."""
        return is_due(iteration, self.every_n_steps)

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        iteration = iteration_of(trainer)
        if not self.should_save(iteration) or getattr(trainer, "fast_dev_run", False) or trainer.sanity_checking:
            return
        path = self.dirpath / f"iter-{iteration:07d}.ckpt"
        trainer.save_checkpoint(path, weights_only=False)
        self.saved.append(path)
        log.info("periodic checkpoint written to %s", path)
