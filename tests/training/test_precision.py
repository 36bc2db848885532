"""Mixed precision, per-network clipping on unscaled gradients, and gradient accumulation."""

from __future__ import annotations

import pytest
import torch
from engine_helpers import MemoryLogger, Recorder, fit, snapshot, tiny_module
from lightning.pytorch.plugins.precision import MixedPrecision


def _fp16_with_scaler() -> MixedPrecision:
    # Lightning gives CPU fp16 no gradient scaler; an explicit one exercises the CUDA code path on CPU.
    return MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=2.0**16))


@pytest.mark.parametrize("precision", ["16", "bf16"])
def test_mixed_precision_trains_and_clips_each_network_on_unscaled_gradients(precision: str) -> None:
    module = tiny_module({"Training.max_steps": 3, "Training.precision": precision,
                          "Training.Stability.gradient_clip_val": 0.01,
                          "Training.Stability.d_gradient_clip_val": 0.005})
    logger = MemoryLogger()
    kwargs = {"plugins": [_fp16_with_scaler()]} if precision == "16" else {"precision": "bf16-mixed"}
    tr = fit(module, logger=logger, **kwargs)
    assert module.iteration == 3
    for net, clip in (("generator", 0.01), ("discriminator", 0.005)):
        rows = [row for _, row in logger.rows if f"grad_norm/{net}/before_clip" in row]
        assert rows
        for row in rows:
            before, after = row[f"grad_norm/{net}/before_clip"], row[f"grad_norm/{net}/after_clip"]
            assert before < 100  # unscaled: a 2**16 loss scale would show here
            assert after == pytest.approx(min(before, clip), rel=1e-3)
    if precision == "16":
        assert tr.precision_plugin.scaler is not None and not tr.optimizers[0].defaults.get("fused")
    else:
        assert tr.optimizers[0].defaults["fused"]  # bf16 keeps the fused kernels (device-side skips)


class _MaxGradient(Recorder):
    """Largest absolute gradient seen by every optimizer step (after clipping)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []

    def on_fit_start(self, trainer, pl_module):  # type: ignore[no-untyped-def]
        for opt in trainer.optimizers:
            opt.register_step_post_hook(lambda o, *_: self.seen.append(
                max(p.grad.abs().max().item() for g in o.param_groups for p in g["params"] if p.grad is not None)))


def test_value_clipping_bounds_every_gradient() -> None:
    module = tiny_module({"Training.max_steps": 2, "Training.Stability.gradient_clip_val": 1e-4,
                          "Training.Stability.gradient_clip_algorithm": "value"})
    spy = _MaxGradient()
    fit(module, callbacks=[spy])
    assert len(spy.seen) == 3 and max(spy.seen) <= 1e-4 + 1e-12


def _train(batch: int, accumulate: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], int]:
    module = tiny_module({"Data.batch_size": batch, "Data.train_size": 16, "Training.max_steps": 3,
                          "Training.pretrain_steps": 1, "Training.accumulate_grad_batches": accumulate,
                          "Training.EMA.enabled": False}, seed=3)
    rec = Recorder()
    fit(module, callbacks=[rec])
    return snapshot(module.generator), snapshot(module.discriminator), len(rec.outputs)


def test_accumulating_two_batches_of_four_updates_like_one_batch_of_eight() -> None:
    g8, d8, n8 = _train(8, 1)
    g4, d4, n4 = _train(4, 2)
    assert n8 == n4 == 3  # iterations, not batches
    for ref, acc in ((g8, g4), (d8, d4)):
        for k in ref:
            # float32 sums in another order, through Adam's normalisation: differences of ~1e-6
            torch.testing.assert_close(acc[k], ref[k], rtol=1e-3, atol=5e-5)
    g4_plain, _, _ = _train(4, 1)  # the comparison can fail: batches of 4 without accumulation differ by ~5e-3
    assert max((g4_plain[k] - g8[k]).abs().max().item() for k in g8) > 1e-3


class _AllOutputs(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.all: list[dict[str, object]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # type: ignore[no-untyped-def]
        self.all.append(dict(outputs))


def test_batches_that_only_accumulate_return_no_iteration() -> None:
    module = tiny_module({"Training.max_steps": 2, "Training.accumulate_grad_batches": 3, "Data.train_size": 12})
    spy = _AllOutputs()
    tr = fit(module, callbacks=[spy])
    assert [bool(o) for o in spy.all] == [False, False, True, False, False, True]
    assert [o["images"] for o in spy.all if o] == [6, 6]
    assert module.iteration == 2 and tr.global_step == 1 + 2
