"""Checkpoint writing: atomic files, top-k by a metric, periodic snapshots by iteration.

:class:`AtomicCheckpointIO` is a Lightning ``CheckpointIO`` plugin: every checkpoint is
written to a temporary file in the same folder and renamed over the target only once it
is complete, so a crash, a full disk or a kill during a write leaves the previous
``last.ckpt`` intact; a full disk is reported as such, with the checkpoint that survived.

The snapshot writers subclass Lightning's ``Checkpoint``, which Lightning runs after every
other callback: a snapshot holds the state after all updates of its iteration (the EMA
average included), and it is written once per iteration, also when accumulating.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
import warnings
from pathlib import Path
from time import monotonic
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import Tensor
from typing_extensions import override

from gan_engine.checkpoint import newest_checkpoint
from gan_engine.components.callbacks._common import completed_iteration, is_due, iteration_of
from gan_engine.errors import CheckpointError
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
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if _out_of_space(exc):
                raise CheckpointError(_out_of_space_message(target)) from exc
            raise


def _out_of_space(exc: BaseException | None) -> bool:
    """Whether ``exc`` or an exception it was raised from is a full disk (or an exceeded quota)."""
    seen = 0
    while exc is not None and seen < 16:  # torch wraps the OSError in a RuntimeError of its own
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _out_of_space_message(target: Path) -> str:
    survivor = newest_checkpoint(target.parent, warn=False)
    if survivor is not None:
        kept = f"{survivor[0].name} at iteration {survivor[1]} is intact"
    else:
        kept = f"the previous {target.name} is intact" if target.exists() else "no earlier checkpoint was written"
    return (f"no space left on the device holding {target.parent} while writing {target.name}; {kept}. "
            "Free some space (or point Project.output_dir elsewhere), then continue the run with --resume "
            "(fit(..., resume=True))")


@callbacks.register("best_checkpoints")
class BestCheckpoints(ModelCheckpoint):
    """The best checkpoints by a metric (Lightning's ``ModelCheckpoint``) and an always-fresh ``last.ckpt``.

    Keeps the ``save_top_k`` best checkpoints by ``monitor`` as ``best-iter=0001200.ckpt``
    (file names count iterations, not Lightning's optimizer steps). ``last.ckpt`` is
    rewritten after every validation and at the end of training, whether or not the metric
    improved, every ``every_n_minutes`` of training (at an iteration boundary), and when the
    run is stopped by Ctrl-C or SIGTERM (see :class:`~gan_engine.components.callbacks.interrupts.
    GracefulStop`, which stops at an iteration boundary), so ``--resume`` loses little.
    An abort in the middle of an iteration writes nothing: the previous ``last.ckpt`` stays.

    Args:
        dirpath: folder of the checkpoints.
        monitor: metric ranking the checkpoints, e.g. ``"val/psnr"``; ``None`` keeps ``last.ckpt`` only.
        mode: ``"max"`` when higher is better, ``"min"`` otherwise.
        save_top_k: best checkpoints kept.
        every_n_minutes: also refresh ``last.ckpt`` this often; 0 disables.
    """

    def __init__(self, dirpath: str | Path = "checkpoints", monitor: str | None = "val/psnr", mode: str = "max",
                 save_top_k: int = 1, every_n_minutes: float = 0.0) -> None:
        # Lightning's own save_last refreshes last.ckpt only when a top-k file is written.
        super().__init__(dirpath=dirpath, filename="best-{iter:07d}", monitor=monitor, mode=mode,
                         save_top_k=save_top_k if monitor else 0, save_last=False, auto_insert_metric_name=True,
                         save_on_train_epoch_end=False)  # rank after validations, where the metrics are
        if every_n_minutes < 0:
            raise ValueError(f"every_n_minutes must be ≥ 0 (0 disables), got {every_n_minutes}")
        self.every_n_minutes = every_n_minutes
        self._iteration = 0
        self._last_written: int | None = None
        self._last_time = monotonic()

    @property
    def state_key(self) -> str:
        # Lightning builds this key around every hook call it makes on a callback; the settings
        # it is made of are fixed once constructed, so it is made once.
        key: str | None = self.__dict__.get("_state_key")
        if key is None:
            key = self.__dict__["_state_key"] = super().state_key
        return key

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
        self._last_written, self._last_time = iteration, monotonic()

    def is_time_due(self, trainer: L.Trainer) -> bool:
        """Whether ``every_n_minutes`` have passed since ``last.ckpt`` was written (the same answer on every rank)."""
        if self.every_n_minutes <= 0:
            return False
        due = monotonic() - self._last_time >= 60.0 * self.every_n_minutes
        return bool(trainer.strategy.broadcast(due)) if trainer.world_size > 1 else due

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
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if completed_iteration(outputs) is not None and self.is_time_due(trainer):
            self.write_last(trainer)
            log.info("last.ckpt refreshed at iteration %d (every %g minutes)", iteration_of(trainer),
                     self.every_n_minutes)

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        # Lightning's own SIGTERM stop (when GracefulStop is not installed) comes between batches, where the
        # state is whole (pending micro-batches are saved); a KeyboardInterrupt can come mid-iteration: nothing.
        if isinstance(exception, SIGTERMException):
            self.write_last(trainer)
            log.info("stopped at iteration %d: %s written", iteration_of(trainer), self.last_path)

    @override
    def format_checkpoint_name(self, metrics: dict[str, Tensor], filename: str | None = None, ver: int | None = None,
                               prefix: str | None = None) -> str:
        return super().format_checkpoint_name({**metrics, "iter": torch.tensor(self._iteration)}, filename, ver,
                                              prefix)


@callbacks.register("periodic_checkpoint")
class PeriodicCheckpoint(Checkpoint):
    """Keep a snapshot every ``every_n_steps`` training iterations, as ``iter-0005000.ckpt``.

    Iterations are batches that update the generator (the module's ``iteration``), not
    Lightning's ``global_step``. A snapshot is written once, after every update of its
    iteration (EMA included: Lightning runs ``Checkpoint`` callbacks last). Snapshots are
    never deleted.

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
        iteration = completed_iteration(outputs)
        if iteration is None or not self.should_save(iteration) or getattr(trainer, "fast_dev_run", False):
            return
        path = self.dirpath / f"iter-{iteration:07d}.ckpt"
        trainer.save_checkpoint(path, weights_only=False)
        self.saved.append(path)
        log.info("periodic checkpoint written to %s", path)
