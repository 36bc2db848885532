"""Exact resume: N iterations, save, resume to 2N equals 2N straight, bit for bit, on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from engine_helpers import SaveAt, callback, fit, tiny_module

from gan_engine.training.module import GANModule

# Enough moving parts to catch a missed state: pretraining, lazy R1 (own optimizer step),
# WGAN-GP (draws random numbers), EMA, a warm-up schedule, validation every epoch.
RESUME = {"Data.train_size": 10, "Training.max_steps": 8, "Training.pretrain_steps": 2,
          "Training.Stability.gp_weight": 1.0, "Training.Stability.r1_gamma": 1.0, "Training.Stability.d_reg_every": 2,
          "Schedulers.generator.name": "cosine", "Schedulers.generator.warmup_steps": 3}


def _run(tmp_path: Path, ckpt: Path | None = None, save_at: int | None = None, **over: object
         ) -> tuple[GANModule, object, object]:
    module = tiny_module({**RESUME, **over})
    callbacks = [SaveAt(save_at, tmp_path / f"at{save_at}.ckpt")] if save_at else []
    tr = fit(module, tmp_path, limit_val_batches=1, callbacks=callbacks, ckpt_path=ckpt)
    return module, callback(tr, "EMA"), tr


def _assert_identical(a: GANModule, b: GANModule, ema_a: object, ema_b: object, tr_a: object, tr_b: object) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"{k} differs after resuming"
    shadow_a, shadow_b = ema_a.shadow(a), ema_b.shadow(b)  # type: ignore[attr-defined]
    assert all(torch.equal(shadow_a[k], shadow_b[k]) for k in shadow_a)
    assert ema_a.num_updates == ema_b.num_updates  # type: ignore[attr-defined]
    for opt_a, opt_b in zip(tr_a.optimizers, tr_b.optimizers):  # type: ignore[attr-defined]
        for pa, pb in zip(opt_a.state.values(), opt_b.state.values()):
            assert all(torch.equal(pa[k], pb[k]) for k in pa)
    for s_a, s_b in zip(a.schedules(), b.schedules()):
        assert s_a.state_dict() == s_b.state_dict()
    assert a.iteration == b.iteration and tr_a.global_step == tr_b.global_step  # type: ignore[attr-defined]


@pytest.mark.parametrize("at", [3, 5], ids=["mid-epoch", "end-of-epoch"])
def test_resume_continues_exactly_like_the_uninterrupted_run(tmp_path: Path, at: int) -> None:
    straight, ema_s, tr_s = _run(tmp_path, save_at=at)  # 5 batches an epoch: 3 is mid-epoch
    resumed, ema_r, tr_r = _run(tmp_path, ckpt=tmp_path / f"at{at}.ckpt")
    assert straight.iteration == resumed.iteration == 8
    _assert_identical(straight, resumed, ema_s, ema_r, tr_s, tr_r)


class _SaveBetweenMicroBatches(SaveAt):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # type: ignore[no-untyped-def]
        if pl_module.iteration == self.at and pl_module.pending_micro_batches == 1 and not self.path.exists():
            trainer.save_checkpoint(self.path)


def test_resume_between_accumulated_micro_batches(tmp_path: Path) -> None:
    """A checkpoint taken between micro-batches keeps the pending one: nothing is lost or repeated."""
    over = {"Training.accumulate_grad_batches": 2, "Data.train_size": 14, "Training.max_steps": 5}
    ckpt = tmp_path / "between.ckpt"
    module = tiny_module({**RESUME, **over})
    tr_s = fit(module, tmp_path, limit_val_batches=1, callbacks=[_SaveBetweenMicroBatches(2, ckpt)])
    saved = torch.load(ckpt, weights_only=True)["gan_engine"]
    assert saved["iteration"] == 2 and len(saved["pending"]) == 1
    resumed, ema_r, tr_r = _run(tmp_path, ckpt=ckpt, **over)
    _assert_identical(module, resumed, callback(tr_s, "EMA"), ema_r, tr_s, tr_r)


def test_checkpoint_records_iteration_config_and_rng(tmp_path: Path) -> None:
    module, _, _ = _run(tmp_path, save_at=3)
    ckpt = torch.load(tmp_path / "at3.ckpt", weights_only=True)
    state = ckpt["gan_engine"]
    assert state["format"] == 1 and state["iteration"] == 3
    assert state["config"] == module.cfg.to_dict()
    assert set(state["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert ckpt["hyper_parameters"]["cfg"] == module.cfg.to_dict()
    rebuilt = GANModule.load_from_checkpoint(tmp_path / "at3.ckpt")
    assert rebuilt.iteration == 3 and rebuilt.cfg.to_dict() == module.cfg.to_dict()
