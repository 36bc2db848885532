"""Two-process CPU DDP training, launched by test_ddp.py (not collected by pytest).

Usage: python ddp_worker.py OUT_DIR STRATEGY [nan | accumulate N]
Each rank writes OUT_DIR/rank<R>.pt with its weights, EMA, counters and logged metrics. With
``nan``, rank 1 alone gets a NaN target at iteration 3 under ``Stability.nonfinite: raise``; each
rank writes the error it stopped with to OUT_DIR/rank<R>.err. With ``accumulate N``, each rank
trains with ``N`` micro-batches per iteration and writes OUT_DIR/acc<N>_rank<R>.pt with its
weights and the phase of each gradient all-reduce.
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightning as L
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine_helpers import MemoryLogger, callback, datamodule, tiny_module

from gan_engine.components.callbacks.fid import FIDKID


class Features(nn.Module):
    """A fixed feature map for fid_kid (each rank builds the same one)."""

    num_features = 8

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, 8, 1)
        with torch.no_grad():
            self.proj.weight.copy_(torch.linspace(-1, 1, 24).view(8, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).mean(dim=(2, 3))


def main(out: Path, strategy: str) -> None:
    L.seed_everything(0, verbose=False)
    module = tiny_module({"Training.max_steps": 5, "Training.pretrain_steps": 2, "Data.train_size": 16,
                          "Training.Stability.r1_gamma": 1.0, "Training.Stability.d_reg_every": 2,
                          "Losses.feature_matching": 0.5, "Normalization.name": "zscore"})
    logger = MemoryLogger()
    tr = L.Trainer(accelerator="cpu", devices=2, strategy=strategy, max_epochs=-1, logger=logger,
                   enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                   num_sanity_val_steps=0, log_every_n_steps=1, limit_val_batches=1,
                   callbacks=[FIDKID(feature=Features())])  # one validation image per rank
    tr.fit(module, datamodule(module))
    fid = callback(tr, "FIDKID").fid
    ema = callback(tr, "EMA")
    torch.save({"iteration": module.iteration, "global_step": tr.global_step, "world_size": tr.world_size,
                "generator": module.generator.state_dict(), "discriminator": module.discriminator.state_dict(),
                "ema": ema.shadow(module), "ema_updates": ema.num_updates, "rows": logger.rows,
                "metrics": {k: float(v) for k, v in tr.callback_metrics.items()},
                "fid_local_images": int(fid.fake_features_num_samples),
                "normalizers": {k: v.cpu() for k, v in module.normalizers.state_dict().items()}},
               out / f"rank{tr.global_rank}.pt")


class NaNOnRankOne(L.Callback):
    """Poison the target of one batch on rank 1 only: the other rank's losses stay finite."""

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: dict[str, torch.Tensor],
                             batch_idx: int) -> None:
        if trainer.global_rank == 1 and pl_module.iteration == 2:  # type: ignore[attr-defined]
            batch["hr"].fill_(float("nan"))


def nan_on_one_rank(out: Path, strategy: str) -> None:
    L.seed_everything(0, verbose=False)
    module = tiny_module({"Training.max_steps": 6, "Training.pretrain_steps": 2, "Data.train_size": 16,
                          "Training.Stability.nonfinite": "raise"})
    tr = L.Trainer(accelerator="cpu", devices=2, strategy=strategy, max_epochs=-1, logger=False,
                   enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                   num_sanity_val_steps=0, limit_val_batches=0, callbacks=[NaNOnRankOne()])
    try:
        tr.fit(module, datamodule(module))
    except Exception as exc:
        (out / f"rank{tr.global_rank}.err").write_text(f"{type(exc).__name__}: {exc}")
        raise


class CountAllReduces(L.Callback):
    """Record ``(iteration, phase)`` of every gradient bucket DDP all-reduces."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

        def hook(state, bucket):  # type: ignore[no-untyped-def]  # DDP checks real (not string) annotations
            self.calls.append((pl_module.iteration, str(pl_module.current_phase)))  # type: ignore[attr-defined]
            return allreduce_hook(None, bucket)  # type: ignore[arg-type]

        trainer.strategy.model.register_comm_hook(None, hook)  # type: ignore[union-attr]


def accumulate(out: Path, strategy: str, micro_batches: int) -> None:
    L.seed_everything(0, verbose=False)
    module = tiny_module({"Training.max_steps": 3, "Training.pretrain_steps": 1, "Data.train_size": 16,
                          "Training.accumulate_grad_batches": micro_batches, "Data.batch_size": 4 // micro_batches})
    counter = CountAllReduces()
    tr = L.Trainer(accelerator="cpu", devices=2, strategy=strategy, max_epochs=-1, logger=False,
                   enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                   num_sanity_val_steps=0, limit_val_batches=0, callbacks=[counter])
    tr.fit(module, datamodule(module))
    torch.save({"iteration": module.iteration, "calls": counter.calls,
                "generator": module.generator.state_dict(), "discriminator": module.discriminator.state_dict()},
               out / f"acc{micro_batches}_rank{tr.global_rank}.pt")


if __name__ == "__main__":
    if sys.argv[3:4] == ["accumulate"]:
        accumulate(Path(sys.argv[1]), sys.argv[2], int(sys.argv[4]))
    else:
        (nan_on_one_rank if sys.argv[3:] == ["nan"] else main)(Path(sys.argv[1]), sys.argv[2])
