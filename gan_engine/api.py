"""The two calls most users need: :func:`fit` and :func:`validate`.

``fit`` is a handful of named steps a reader can follow: load the config, open a run
directory, build the data, the :class:`~gan_engine.GANModule` and a ``lightning.Trainer``,
then call ``trainer.fit``. Each step is also usable on its own (``build_datamodule``,
``build_trainer``), and a user can do the same by hand with the same objects.
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from gan_engine.checkpoint import check_compatible, read_checkpoint
from gan_engine.components.callbacks.checkpoints import AtomicCheckpointIO, BestCheckpoints, PeriodicCheckpoint
from gan_engine.components.callbacks.histograms import Histograms
from gan_engine.components.callbacks.images import ImagePanels, choose_bands
from gan_engine.components.callbacks.interrupts import GracefulStop
from gan_engine.components.callbacks.progress import GANProgressBar
from gan_engine.components.callbacks.records import (
    CurvesPlot,
    MetricsFile,
    ProgressFile,
    SystemStats,
    TrainingLog,
    scalar_metrics,
)
from gan_engine.config import Config, load_config
from gan_engine.errors import ConfigError, ConfigIssue, ShapeError
from gan_engine.registry import datamodules
from gan_engine.run import Run, RunDir
from gan_engine.training.environment import NullProfiler, check_trainer, die_with_parent, engine_strategy

if TYPE_CHECKING:
    from gan_engine.training.module import GANModule

__all__ = ["FitResult", "build_callbacks", "build_datamodule", "build_loggers", "build_trainer", "fit", "validate"]

ConfigLike = str | PathLike[str] | Mapping[str, Any] | Config


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        run_dir: the run directory.
        best_checkpoint: the best checkpoint by ``Callbacks.checkpoint.monitor`` (the last
            one when nothing is monitored); ``None`` when no checkpoint was written.
        last_checkpoint: ``checkpoints/last.ckpt``; ``None`` when not written.
        metrics: the last logged value of every scalar metric.
        module: the trained :class:`~gan_engine.GANModule`.
        trainer: the ``lightning.Trainer`` used.
    """

    run_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    metrics: dict[str, float] = field(default_factory=dict)
    module: GANModule | None = None
    trainer: L.Trainer | None = None


def fit(config: ConfigLike | None = None, datamodule: L.LightningDataModule | None = None, *,
        overrides: Sequence[str] | Mapping[str, Any] | None = None, ckpt_path: str | PathLike[str] | None = None,
        resume: bool = False) -> FitResult:
    """Train a GAN from a configuration; write everything to a new (or resumed) run directory.

    Args:
        config: a YAML/JSON path, a mapping or a :class:`Config`; ``None`` is the quickstart.
        datamodule: any ``LightningDataModule``; default: the one named by ``Data.name``.
        overrides: ``KEY=VALUE`` strings or a mapping of dotted keys applied to ``config``.
        ckpt_path: resume exactly from this checkpoint (in its own run directory when it lies
            in one, else in a new one).
        resume: resume the latest run of ``Project.name`` under ``Project.output_dir`` from its
            ``last.ckpt``, in the same directory; starts a new run (with a warning) if there is none.

    Returns:
        A :class:`FitResult` with the run directory, checkpoints, final metrics, module and trainer.

    Raises:
        ConfigError: for an invalid configuration (before anything is written).
        CheckpointError: for a missing, truncated or incompatible checkpoint.
        RunLockedError: when another live process is writing the run directory.

    Example:
        >>> import gan_engine as ge
        >>> result = ge.fit("examples/configs/quickstart.yaml")  # doctest: +SKIP
        >>> result.metrics["val/psnr"]  # doctest: +SKIP
    """
    from gan_engine.training.module import GANModule

    die_with_parent()  # a process Lightning launched for another device ends with the first one
    cfg = load_config(config, overrides)
    check_environment(cfg)
    L.seed_everything(cfg.Project.seed, workers=True, verbose=False)
    data = datamodule if datamodule is not None else build_datamodule(cfg)
    _check_data(data)
    module = GANModule(cfg)
    run, start_from = Run.open(cfg, ckpt_path=ckpt_path, resume=resume, verify=checkpoint_fits(cfg, module))
    with run.session(start_from):
        trainer = build_trainer(cfg, run, module)
        with _interrupts_raise(trainer), _children_stop_on_failure(trainer):
            trainer.fit(module, datamodule=data, ckpt_path=start_from, weights_only=True)
        result = _result(run, trainer, module)
        run.record_result(result.metrics, result.best_checkpoint, result.last_checkpoint, module_iteration(module))
    return result


def validate(config: ConfigLike | None, checkpoint: str | PathLike[str],
             datamodule: L.LightningDataModule | None = None) -> dict[str, float]:
    """Evaluate a checkpoint on the validation data; nothing is written.

    Args:
        config: the configuration (its ``Data`` section supplies the data), as for :func:`fit`.
        checkpoint: a checkpoint written by :func:`fit`; EMA weights are used when present.
        datamodule: any ``LightningDataModule``; default: the one named by ``Data.name``.

    Returns:
        Every validation metric, e.g. ``val/psnr``, ``val/ssim``, ``val/psnr_bicubic``.

    Raises:
        CheckpointError: for a missing, truncated or incompatible checkpoint (each differing key named).
    """
    from gan_engine.training.module import GANModule

    cfg = load_config(config)
    read_checkpoint(checkpoint, mmap=True)  # fail early, with a clear message, on a bad file
    L.seed_everything(cfg.Project.seed, workers=True, verbose=False)
    data = datamodule if datamodule is not None else build_datamodule(cfg)
    module = GANModule(cfg)
    checkpoint_fits(cfg, module, optimizers=False)(Path(checkpoint))
    devices = {k: v for k, v in cfg.Trainer.items() if k in ("accelerator", "devices", "strategy", "num_nodes")}
    trainer = L.Trainer(**module.trainer_defaults(), **devices, logger=False, enable_checkpointing=False)
    with warnings.catch_warnings():  # validation needs none of the training callbacks the checkpoint lists
        warnings.filterwarnings("ignore", message="Be aware that when using `ckpt_path`, callbacks")
        outputs = trainer.validate(module, datamodule=data, ckpt_path=str(checkpoint), verbose=False,
                                   weights_only=True)
    return scalar_metrics(outputs[0] if outputs else {})


def _check_data(data: L.LightningDataModule) -> None:
    """Read the data of a built-in module now (root, file headers, sizes), before a run directory exists."""
    from gan_engine.data.base import GanDataModule

    if isinstance(data, GanDataModule):
        data.setup("fit")  # idempotent: Lightning's own call later reuses the data sets


def build_datamodule(cfg: Config) -> L.LightningDataModule:
    """The data module named by ``Data.name``, built with the ``Data`` parameters."""
    return datamodules.build(cfg.Data.name, **cfg.Data.kwargs())  # type: ignore[no-any-return]


def build_trainer(cfg: Config, run: Run, module: GANModule) -> L.Trainer:
    """A ``lightning.Trainer`` for ``module`` writing into ``run``; keys of the ``Trainer:`` section win.

    The module stops itself after ``Training.max_steps`` iterations (Lightning's own
    ``max_steps`` counts optimizer steps, two per GAN iteration), so no epoch or step limit
    is set here; ``module.trainer_defaults()`` supplies precision and logging cadence.
    """
    kwargs = {**module.trainer_defaults(), "default_root_dir": str(run.dir.path),
              "callbacks": build_callbacks(cfg, run.dir), "logger": build_loggers(cfg, run.dir),
              "plugins": [AtomicCheckpointIO()], "profiler": NullProfiler()}
    kwargs.update(cfg.Trainer)
    if "strategy" in kwargs:
        kwargs["strategy"] = engine_strategy(kwargs["strategy"], kwargs)
    return L.Trainer(**kwargs)


def _accelerator_is_gpu(cfg: Config) -> bool:
    import torch

    accelerator = str(cfg.Trainer.get("accelerator") or "auto")
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def build_callbacks(cfg: Config, run: RunDir) -> list[Callback]:
    """The run's callbacks: checkpoints, records, image panels, learning rates, early stopping, histograms.

    The engine's own callbacks (EMA, gradient norms, GAN health) and ``Callbacks.extra_validation``
    come from ``GANModule.configure_callbacks``.
    """
    c, log = cfg.Callbacks, cfg.Logging
    best = BestCheckpoints(run.checkpoints, c.checkpoint.monitor, c.checkpoint.mode, c.checkpoint.save_top_k,
                           c.checkpoint.every_n_minutes)
    out: list[Callback] = [
        best,
        PeriodicCheckpoint(run.checkpoints, c.periodic.every_n_steps),
        GracefulStop(best),  # after the snapshot writers: Lightning keeps the order of Checkpoint callbacks
        MetricsFile(run.metrics),
        ProgressFile(run.progress, cfg.Training.max_steps, log.log_every_n_steps),
        TrainingLog(log.log_every_n_steps),
        ImagePanels(run.images, log.log_images_every_n_steps, log.num_images, log.rgb_bands, log.stretch_percentiles,
                    log.denormalize_images),
    ]
    if log.plot_curves:
        out.append(CurvesPlot(run.path))
    if log.system_stats:
        out.append(SystemStats(log.log_every_n_steps))
        if _accelerator_is_gpu(cfg):
            from lightning.pytorch.callbacks import DeviceStatsMonitor

            out.append(DeviceStatsMonitor(cpu_stats=False))
    if cfg.Trainer.get("enable_progress_bar", True):
        out.append(GANProgressBar(cfg.Training.max_steps, log.log_every_n_steps))
    if c.early_stopping is not None:
        e = c.early_stopping
        out.append(EarlyStopping(monitor=e.monitor, mode=e.mode, patience=e.patience, min_delta=e.min_delta))
    if log.log_parameters or log.log_gradients:
        out.append(Histograms(log.log_every_n_steps, parameters=log.log_parameters, gradients=log.log_gradients))
    return out


def _csv_logger(cfg: Config, run: RunDir) -> Logger:
    return CSVLogger(save_dir=run.logs, name="csv")


def _tensorboard_logger(cfg: Config, run: RunDir) -> Logger:
    return TensorBoardLogger(save_dir=run.logs, name="tensorboard", default_hp_metric=False)


def _wandb_logger(cfg: Config, run: RunDir) -> Logger:
    from lightning.pytorch.loggers import WandbLogger

    # The run name is the W&B id too, so a resumed run continues the same W&B run.
    return WandbLogger(project=cfg.Logging.wandb_project or cfg.Project.name, name=run.name, id=run.name,
                       save_dir=str(run.logs), resume="allow")


#: ``Logging.logger`` → (factory, packages of which one must be importable, extra to install).
LOGGERS = {
    "csv": (_csv_logger, (), ""),
    "tensorboard": (_tensorboard_logger, ("tensorboard", "tensorboardX"), "tensorboard"),
    "wandb": (_wandb_logger, ("wandb",), "wandb"),
}


def build_loggers(cfg: Config, run: RunDir) -> list[Logger]:
    """The logger named by ``Logging.logger``, writing under the run's ``logs/``."""
    factory, _, _ = LOGGERS[cfg.Logging.logger]
    return [factory(cfg, run)]


def check_environment(cfg: Config) -> None:
    """Checks that need more than the config: this machine's accelerators and cores, optional packages, bands.

    Raises:
        ConfigError: naming the setting and what to do.
    """
    trainer_issues = check_trainer(cfg.Trainer)
    if trainer_issues:
        raise ConfigError(trainer_issues)
    _, packages, extra = LOGGERS[cfg.Logging.logger]
    if packages and not any(importlib.util.find_spec(p) for p in packages):
        raise ConfigError([ConfigIssue("Logging.logger", f"{cfg.Logging.logger!r} needs the {packages[0]} package, "
                                       f"which is not installed. Install it with: pip install 'gan_engine[{extra}]' "
                                       "(or choose logger: csv)")])
    bands = cfg.Data.params.get("bands")
    if cfg.Logging.rgb_bands is not None and isinstance(bands, int):
        try:
            choose_bands(bands, cfg.Logging.rgb_bands)
        except ShapeError as exc:
            raise ConfigError([ConfigIssue("Logging.rgb_bands", str(exc))]) from None


def checkpoint_fits(cfg: Config, module: L.LightningModule, *, optimizers: bool = True) -> Callable[[Path], None]:
    """A check that a checkpoint can continue ``module`` built from ``cfg`` (see :func:`check_compatible`)."""
    shapes = {k: v.shape for k, v in module.state_dict().items()}

    def verify(path: Path) -> None:
        check_compatible(cfg.to_dict(), read_checkpoint(path, mmap=True), path, optimizers=optimizers, shapes=shapes)

    return verify


def module_iteration(module: Any) -> int:
    """The training iterations a module has completed."""
    return int(getattr(module, "iteration", 0))


def _result(run: Run, trainer: L.Trainer, module: GANModule) -> FitResult:
    ckpt = trainer.checkpoint_callback
    last = run.dir.last_checkpoint if run.dir.last_checkpoint.is_file() else None
    best_path = getattr(ckpt, "best_model_path", "") if ckpt is not None else ""
    best = Path(best_path) if best_path and Path(best_path).is_file() else last
    return FitResult(run_dir=run.dir.path, best_checkpoint=best, last_checkpoint=last,
                     metrics=scalar_metrics(trainer.callback_metrics), module=module, trainer=trainer)


@contextmanager
def _children_stop_on_failure(trainer: L.Trainer) -> Iterator[None]:
    """Stop the processes Lightning launched for the other devices when this one fails.

    Lightning stops them after a Ctrl-C only; after an exception they would wait in a
    collective until its timeout (half an hour for gloo), holding memory and the run's files.
    """
    try:
        yield
    except BaseException:
        launcher = getattr(trainer.strategy, "launcher", None)
        procs = getattr(launcher, "procs", None) or []
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.kill()
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.wait(timeout=30)
        raise


@contextmanager
def _interrupts_raise(trainer: L.Trainer) -> Iterator[None]:
    """Turn Lightning's exit on Ctrl-C back into a ``KeyboardInterrupt`` and restore the SIGINT handler.

    On Ctrl-C Lightning stops gracefully, ignores further SIGINTs and calls ``sys.exit(1)``,
    which would end a script with a misleading status and leave a notebook unable to interrupt.
    """
    main_thread = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main_thread else None
    try:
        yield
    except SystemExit as exc:
        if trainer.interrupted:
            cause = exc.__context__  # Lightning exits from inside its handler of our KeyboardInterrupt
            message = str(cause) if isinstance(cause, KeyboardInterrupt) and str(cause) else \
                f"training interrupted at iteration {module_iteration(trainer.lightning_module)}"
            raise KeyboardInterrupt(message) from exc
        raise
    finally:
        if main_thread and handler is not None:
            signal.signal(signal.SIGINT, handler)
