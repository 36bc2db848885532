"""Speed switches change how the work is laid out, never what is computed."""

from __future__ import annotations

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
