"""Tiny configs, trainers and recorders shared by the training-engine and callback tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import Logger

import gan_engine as ge
from gan_engine.training.module import GANModule

TINY: dict[str, Any] = {
    "Project": {"seed": 0},
    "Data": {"hr_size": 16, "batch_size": 2, "train_size": 8, "val_size": 2, "val_batch_size": 2, "bands": 3},
    "Generator": {"name": "srresnet", "n_channels": 8, "n_blocks": 1},
    "Discriminator": {"name": "srgan", "base_channels": 4, "n_stages": 2},
    "Training": {"max_steps": 4, "pretrain_steps": 1},
    "Logging": {"log_every_n_steps": 1},
}


def tiny_config(overrides: Mapping[str, Any] | None = None, **sections: Any) -> ge.Config:
    """The tiny config, with dotted ``overrides`` ({"Training.max_steps": 3}) applied."""
    return ge.load_config(TINY, overrides=dict(overrides or {}))


def tiny_module(overrides: Mapping[str, Any] | None = None, seed: int = 0) -> GANModule:
    torch.manual_seed(seed)
    return GANModule(tiny_config(overrides))


def datamodule(module: GANModule) -> L.LightningDataModule:
    return ge.datamodules.build(module.cfg.Data.name, **module.cfg.Data.params)  # type: ignore[no-any-return]


def trainer(tmp_path: Path | None = None, **kwargs: Any) -> L.Trainer:
    """A quiet CPU trainer with no epoch limit; validation is off unless asked for."""
    defaults: dict[str, Any] = dict(
        accelerator="cpu", devices=1, max_epochs=-1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=1,
        limit_val_batches=0, default_root_dir=str(tmp_path) if tmp_path else None,
    )
    defaults.update(kwargs)
    if any(isinstance(c, Checkpoint) for c in defaults.get("callbacks", [])):
        defaults["enable_checkpointing"] = True
    return L.Trainer(**defaults)


def fit(module: GANModule, tmp_path: Path | None = None, ckpt_path: Path | None = None, **kwargs: Any) -> L.Trainer:
    tr = trainer(tmp_path, **kwargs)
    tr.fit(module, datamodule(module), ckpt_path=ckpt_path)
    return tr


def callback(tr: L.Trainer, name: str) -> Any:
    return next(c for c in tr.callbacks if type(c).__name__ == name)


def snapshot(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of every parameter and buffer."""
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def same(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class MemoryLogger(Logger):
    """Keeps every ``log_metrics`` call: what the Trainer actually writes, and at which step."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[int | None, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "memory"

    @property
    def version(self) -> str:
        return "0"

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.rows.append((step, dict(metrics)))

    def keys(self) -> set[str]:
        return {k for _, row in self.rows for k in row}


class Recorder(L.Callback):
    """Keeps, per completed iteration, the step outputs and the metrics logged on that batch."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []
        self.logged: list[dict[str, float]] = []
        self.generator: list[dict[str, torch.Tensor]] = []
        self.discriminator: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not outputs:
            return
        self.outputs.append(dict(outputs))
        self.logged.append({k: float(v) for k, v in trainer.logged_metrics.items()})
        self.generator.append(snapshot(pl_module.generator))
        self.discriminator.append(snapshot(pl_module.discriminator))


class SaveAt(Checkpoint):
    """Save a checkpoint when the module completes iteration ``at`` (ordered last, like ModelCheckpoint)."""

    def __init__(self, at: int, path: Path) -> None:
        self.at, self.path = at, path

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if outputs and outputs.get("iteration") == self.at:
            trainer.save_checkpoint(self.path)
