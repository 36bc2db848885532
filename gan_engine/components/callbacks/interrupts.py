"""Stopping on Ctrl-C or SIGTERM at the next iteration boundary, with ``last.ckpt`` written there.

Python turns Ctrl-C into a ``KeyboardInterrupt`` wherever the interpreter happens to be: in
the middle of an iteration, after the discriminator stepped and before the counter moved.
A checkpoint written from there would replay a discriminator step on resume. So while the
training runs, the first SIGINT or SIGTERM only *asks* for a stop; the iteration in progress
finishes, every callback sees it (EMA, snapshots), ``last.ckpt`` is written, and the run
ends as ``interrupted``. A second Ctrl-C aborts at once and writes nothing, so the previous
``last.ckpt`` stays as it was.

Under DDP every process gets the request (a terminal sends SIGINT to all of them; rank
zero forwards SIGTERM to the processes it launched) and the processes agree on the
iteration to stop at with one boolean all-reduce per iteration.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from gan_engine.components.callbacks._common import completed_iteration
from gan_engine.components.callbacks.checkpoints import BestCheckpoints
from gan_engine.registry import callbacks

__all__ = ["GracefulStop"]

log = logging.getLogger("gan_engine")


@callbacks.register("graceful_stop")
class GracefulStop(Checkpoint):
    """Turn SIGINT/SIGTERM into a stop at the end of the running iteration (see the module docstring).

    A ``Checkpoint`` subclass, so Lightning runs it after every other callback: the state it
    saves is the state after all updates of the iteration.

    Args:
        checkpoints: the callback that writes ``last.ckpt``; ``None`` stops without writing.
        signals: the signals handled, by name.
    """

    def __init__(self, checkpoints: BestCheckpoints | None = None,
                 signals: Sequence[str] = ("SIGINT", "SIGTERM")) -> None:
        self.checkpoints = checkpoints
        self.signals = [signal.Signals[name] for name in signals]
        self.requested: str | None = None
        self._previous: dict[signal.Signals, Any] = {}
        self._trainer: L.Trainer | None = None

    def request_stop(self, reason: str = "a stop request") -> None:
        """Ask for a stop at the end of the running iteration (what the first signal does)."""
        if self.requested is None:
            self.requested = reason
            rank_zero_warn(f"{reason}: stopping at the end of this iteration and writing last.ckpt; "
                           "press Ctrl-C again to abort at once without writing")

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None and signum == signal.SIGINT:
            self._restore()
            raise KeyboardInterrupt(f"aborted by a second {name}: nothing was written, the previous last.ckpt "
                                    "is kept")
        first = self.requested is None
        self.request_stop(f"received {name}")
        launcher = getattr(self._trainer.strategy, "launcher", None) if self._trainer is not None else None
        if first and signum == signal.SIGTERM and launcher is not None and hasattr(launcher, "kill"):
            launcher.kill(signum)  # the processes this one launched stop at the same iteration

    def _install(self) -> None:
        if threading.current_thread() is not threading.main_thread() or self._previous:
            return  # signals reach the main thread only; training in a thread keeps Python's behaviour
        for sig in self.signals:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # After Lightning registered its own SIGTERM handler (which would stop between micro-batches).
        self._trainer, self.requested = trainer, None
        self._install()

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        iteration = completed_iteration(outputs)
        if iteration is None or trainer.should_stop:
            return
        stop = self.requested is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if not stop:
            return
        if self.checkpoints is not None:
            self.checkpoints.write_last(trainer)
            log.info("stopped at iteration %d: %s written", iteration, self.checkpoints.last_path)
        self._restore()
        raise KeyboardInterrupt(f"stopped at iteration {iteration} ({self.requested or 'another process stopped'})"
                                + ("; last.ckpt written" if self.checkpoints is not None else ""))

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()
