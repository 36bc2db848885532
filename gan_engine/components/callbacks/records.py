"""Plain-file records of a run: ``metrics.json``, ``progress.json`` and the text log ``logs/training.log``.

They only read metrics Lightning already holds, and only on validation or logging
iterations, so they add no work to the other iterations.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from typing_extensions import override

from gan_engine.components.callbacks._common import is_due, iteration_of
from gan_engine.registry import callbacks

__all__ = ["CurvesPlot", "MetricsFile", "ProgressFile", "SystemStats", "TrainingLog", "device_report",
           "scalar_metrics"]

log = logging.getLogger("gan_engine")


def scalar_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite scalar entries of ``metrics`` whose name starts with ``prefix``, as floats."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if not key.startswith(prefix):
            continue
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                continue
            value = value.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    return out


@callbacks.register("metrics_file")
class MetricsFile(L.Callback):
    """Append one record per validation to a JSON array file (``metrics.json``).

    A record holds ``iteration``, ``epoch``, ``global_step``, ``time`` (seconds since the
    epoch) and every scalar validation metric (names starting with ``val``). A resumed run
    keeps the records already in the file. The file is replaced atomically each time.

    Args:
        path: the JSON file.
    """

    def __init__(self, path: str | Path = "metrics.json") -> None:
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []

    @override
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        try:
            existing = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            existing = []
        self.records = existing if isinstance(existing, list) else []

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        values = scalar_metrics(trainer.callback_metrics, prefix="val")
        record: dict[str, Any] = {"iteration": iteration_of(trainer), "epoch": trainer.current_epoch,
                                  "global_step": trainer.global_step, "time": round(time.time(), 3), **values}
        self.records.append(record)
        from gan_engine.run import write_json

        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json(self.path, self.records)
        shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
        log.info("validation at iteration %d: %s", record["iteration"], shown or "(no metrics)")


@callbacks.register("progress_file")
class ProgressFile(L.Callback):
    """Keep ``progress.json`` current, for whoever follows the run (``gan-engine watch``, a dashboard).

    Rank zero replaces the file atomically every ``every_n_steps`` iterations (the logging
    cadence, where the logged values are already on the host), after each validation and at
    the end of training. It holds ``iteration``, ``max_steps``, ``time`` (seconds since the
    epoch), ``iterations_per_s`` over the last interval, ``eta_s``, the latest ``train``
    scalars (``train/...``, ``lr/...``, ``grad_norm/...``, ``health/...``) and the latest
    ``validation`` metrics.

    Args:
        path: the JSON file.
        max_steps: the run's ``Training.max_steps``.
        every_n_steps: iterations between writes; 0 writes only after validations and at the end.
    """

    TRAIN_PREFIXES = ("train/", "lr/", "grad_norm/", "health/")

    def __init__(self, path: str | Path = "progress.json", max_steps: int = 0, every_n_steps: int = 50) -> None:
        self.path, self.max_steps, self.every_n_steps = Path(path), max_steps, every_n_steps
        self._mark: tuple[int, float] | None = None  # (iteration, time) of the previous write
        self._rate: float | None = None
        self._validation: dict[str, float] = {}

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._mark = (iteration_of(trainer), time.monotonic())  # a resumed run counts from where it starts

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        iteration = iteration_of(trainer)
        if is_due(iteration, self.every_n_steps) and (self._mark is None or iteration != self._mark[0]):
            self.write(trainer)

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._validation = scalar_metrics(trainer.callback_metrics, prefix="val")
            self.write(trainer)

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.write(trainer)

    def write(self, trainer: L.Trainer) -> None:
        """Replace ``progress.json`` with the run's state now (rank zero only)."""
        if not trainer.is_global_zero or getattr(trainer, "fast_dev_run", False):
            return
        iteration, now = iteration_of(trainer), time.monotonic()
        if self._mark is not None and iteration > self._mark[0] and now > self._mark[1]:
            self._rate = (iteration - self._mark[0]) / (now - self._mark[1])
        self._mark = (iteration, now)
        left = max(self.max_steps - iteration, 0)
        train = {k: v for k, v in scalar_metrics(trainer.callback_metrics).items() if k.startswith(self.TRAIN_PREFIXES)}
        record = {"iteration": iteration, "max_steps": self.max_steps, "time": round(time.time(), 3),
                  "iterations_per_s": self._rate, "eta_s": left / self._rate if self._rate else None,
                  "train": train, "validation": self._validation}
        from gan_engine.run import write_json

        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json(self.path, record)


@callbacks.register("system_stats")
class SystemStats(L.Callback):
    """Log what the process uses, every ``every_n_steps`` iterations (the logging cadence).

    On every accelerator: ``system/cpu_percent`` (this process's CPU time over the interval,
    in per cent of one core; 200 is two cores busy), ``system/rss_gib`` (resident memory) and
    ``system/threads`` (torch's CPU threads). On CUDA also ``system/cuda_allocated_gib`` and
    ``system/cuda_peak_gib``; add Lightning's ``DeviceStatsMonitor`` (``Logging.system_stats``
    does) for the driver's utilisation figures. Only host-side counters are read: no sync.

    Args:
        every_n_steps: iterations between two readings.
    """

    def __init__(self, every_n_steps: int = 50) -> None:
        self.every_n_steps = every_n_steps
        self._mark: tuple[float, float] | None = None  # (process CPU seconds, wall seconds)

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._mark = (_cpu_seconds(), time.monotonic())

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not is_due(iteration_of(trainer), self.every_n_steps):
            return
        cpu, now = _cpu_seconds(), time.monotonic()
        stats: dict[str, float] = {"system/rss_gib": _rss_bytes() / 2**30,
                                   "system/threads": float(torch.get_num_threads())}
        if self._mark is not None and now > self._mark[1]:
            stats["system/cpu_percent"] = 100.0 * (cpu - self._mark[0]) / (now - self._mark[1])
        self._mark = (cpu, now)
        root = trainer.strategy.root_device
        if root.type == "cuda":
            stats["system/cuda_allocated_gib"] = torch.cuda.memory_allocated(root) / 2**30
            stats["system/cuda_peak_gib"] = torch.cuda.max_memory_allocated(root) / 2**30
        # Python numbers as CPU tensors: nothing is copied to the accelerator
        pl_module.log_dict({k: torch.tensor(v) for k, v in stats.items()}, on_step=True, on_epoch=False,
                           batch_size=1)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _rss_bytes() -> int:
    """This process's resident memory: ``/proc/self/statm`` on Linux, else the peak from ``getrusage``."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)


@callbacks.register("curves_plot")
class CurvesPlot(L.Callback):
    """Redraw ``plots/curves.png`` after each validation, in a background thread (rank zero).

    The drawing reads the run's files (:meth:`gan_engine.run.catalog.RunView.plot`), so
    training goes on while it runs; a validation that comes before the previous drawing ended
    waits for it. A drawing that fails is logged as a warning and never stops training.

    Args:
        run_dir: the run's directory.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self._thread: threading.Thread | None = None

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or getattr(trainer, "fast_dev_run", False):
            return
        self.wait()
        self._thread = threading.Thread(target=self._draw, name="gan_engine-curves", daemon=True)
        self._thread.start()

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.wait()

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.wait()

    def wait(self) -> None:
        """Let the drawing in progress finish."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _draw(self) -> None:
        from gan_engine.run.catalog import open_run

        try:
            open_run(self.run_dir).plot(self.run_dir / "plots" / "curves.png")
        except Exception as exc:  # a plot must never end a run
            log.warning("could not draw %s: %s", self.run_dir / "plots" / "curves.png", exc)


def device_report(trainer: L.Trainer) -> list[str]:
    """Lines describing the hardware a run uses: devices, their memory, CPU and threads."""
    root = trainer.strategy.root_device
    lines = [f"accelerator {type(trainer.accelerator).__name__}, {trainer.num_devices} device(s), "
             f"{trainer.num_nodes} node(s), strategy {type(trainer.strategy).__name__}, "
             f"precision {trainer.precision}",
             f"host {platform.node()}: {os.cpu_count()} CPUs, torch {torch.__version__} with "
             f"{torch.get_num_threads()} threads"]
    if root.type == "cuda":
        props = torch.cuda.get_device_properties(root)
        free, total = torch.cuda.mem_get_info(root)
        lines.append(f"{root}: {props.name}, {total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free), "
                     f"compute capability {props.major}.{props.minor}")
    return lines


@callbacks.register("training_log")
class TrainingLog(L.Callback):
    """Write the run's progress to the ``gan_engine`` logger (which ``fit`` copies to ``logs/training.log``).

    At the start: the devices, their memory and the size of each network. Every
    ``log_every_n_steps`` iterations: the latest logged training scalars. At the end:
    the peak accelerator memory.

    Args:
        log_every_n_steps: iterations between progress lines; 0 disables them.
    """

    def __init__(self, log_every_n_steps: int = 50) -> None:
        self.log_every_n_steps = log_every_n_steps
        self._last = -1

    @override
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        for line in device_report(trainer):
            log.info(line)
        for name, child in pl_module.named_children():
            count = sum(p.numel() for p in child.parameters())
            if count:
                log.info("%s: %s, %.3g M parameters", name, type(child).__name__, count / 1e6)

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        iteration = iteration_of(trainer)
        due = is_due(iteration, self.log_every_n_steps) and iteration != self._last
        if not due or not trainer.is_global_zero:
            return
        self._last = iteration
        values = scalar_metrics(trainer.callback_metrics, prefix="train")
        log.info("iteration %d: %s", iteration, ", ".join(f"{k}={v:.4g}" for k, v in sorted(values.items())))

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        root = trainer.strategy.root_device
        if root.type == "cuda" and trainer.is_global_zero:
            log.info("peak memory on %s: %.2f GiB", root, torch.cuda.max_memory_allocated(root) / 2**30)
