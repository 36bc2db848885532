"""Speed switches change how the work is laid out, never what is computed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from engine_helpers import Recorder, fit, tiny_module

OVER = {"Training.max_steps": 5, "Training.pretrain_steps": 2, "Training.Stability.r1_gamma": 1.0,
        "Training.Stability.d_reg_every": 2}


class _Layout(Recorder):
    """Records whether the networks' weights and the batches are channels-last during training."""

    def __init__(self) -> None:
        super().__init__()
        self.layouts: list[tuple[bool, bool]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # type: ignore[no-untyped-def]
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if outputs:
            conv = next(p for p in pl_module.generator.parameters() if p.ndim == 4)
            image = outputs["batch"]["hr"]
            self.layouts.append((conv.is_contiguous(memory_format=torch.channels_last),
                                 image.is_contiguous(memory_format=torch.channels_last)))


def test_channels_last_trains_in_that_layout_to_the_same_weights() -> None:
    runs = {}
    for flag in (False, True):
        module = tiny_module({**OVER, "Training.channels_last": flag})
        rec = _Layout()
        fit(module, callbacks=[rec])
        runs[flag] = (module, rec)
    (plain, rec_plain), (fast, rec_fast) = runs[False], runs[True]
    assert all(conv and image for conv, image in rec_fast.layouts) and len(rec_fast.layouts) == 5
    assert not any(conv for conv, _ in rec_plain.layouts)
    a, b = plain.state_dict(), fast.state_dict()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5, msg=lambda m, k=key: f"{k}: {m}")
    moved = max(float((a[k] - tiny_module(OVER).state_dict()[k]).abs().max()) for k in a if a[k].is_floating_point())
    assert moved > 1e-3  # the comparison is between trained weights, not two copies of the initial ones


class _CompiledCalls(Recorder):
    """Counts the training iterations in which the phases called compiled networks."""

    def __init__(self) -> None:
        super().__init__()
        self.compiled: list[bool] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # type: ignore[no-untyped-def]
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        nets = pl_module._training_networks()
        self.compiled.append(isinstance(nets.generator, torch._dynamo.eval_frame.OptimizedModule)
                             and isinstance(nets.discriminator, torch._dynamo.eval_frame.OptimizedModule))


def test_compiled_training_reaches_the_same_weights_and_checkpoints_store_the_eager_networks(
        tmp_path: Path) -> None:
    """R1 (a double backward, which compiled graphs refuse) runs on the eager discriminator."""
    over = {**OVER, "Training.Stability.d_reg_every": 1, "Training.Stability.gp_weight": 1.0,
            "Losses.feature_matching": 0.5}
    torch._dynamo.reset()
    runs = {}
    for flag in (False, True):
        module = tiny_module({**over, "Training.compile.enabled": flag, "Training.compile.backend": "aot_eager"})
        rec = _CompiledCalls()
        tr = fit(module, tmp_path / str(flag), callbacks=[rec])
        runs[flag] = (module, rec, tr)
    (plain, _, _), (compiled, rec, tr) = runs[False], runs[True]
    assert rec.compiled == [True] * 5 and compiled.iteration == 5
    a, b = plain.state_dict(), compiled.state_dict()
    assert a.keys() == b.keys()  # no "_orig_mod." prefix: the module holds the eager networks
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5, msg=lambda m, k=key: f"{k}: {m}")
    ckpt = tmp_path / "compiled.ckpt"
    tr.save_checkpoint(ckpt)
    stored = torch.load(ckpt, weights_only=True)["state_dict"]
    assert not any("_orig_mod" in k for k in stored) and stored.keys() == a.keys()
    eager = tiny_module(over)
    eager.load_state_dict(stored)  # loads into a module that never compiled anything


def test_fast_matmul_allows_tf32_on_cuda_only_and_puts_the_settings_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from gan_engine.training.speed import fast_matmul

    before = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    with fast_matmul(True, torch.device("cpu")):
        assert torch.get_float32_matmul_precision() == before[0] and not torch.backends.cudnn.allow_tf32
    with fast_matmul(False, torch.device("cuda", 0)):
        assert torch.get_float32_matmul_precision() == before[0]
    with fast_matmul(True, torch.device("cuda", 0)):  # the settings only: nothing runs on the device
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32
    assert torch.get_float32_matmul_precision() == before[0] and not torch.backends.cudnn.allow_tf32


def test_fast_matmul_is_a_no_op_for_a_cpu_fit() -> None:
    before = torch.get_float32_matmul_precision()
    plain, fast = tiny_module(OVER), tiny_module({**OVER, "Training.fast_matmul": True})
    fit(plain), fit(fast)
    assert torch.get_float32_matmul_precision() == before
    a, b = plain.state_dict(), fast.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
