"""Super-resolution validation: fixed metric names, bicubic baseline, denormalised values, explicit range."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from engine_helpers import datamodule, tiny_module, trainer

import gan_engine as ge
from gan_engine.components.normalizers.base import Normalizer
from gan_engine.components.tasks.super_resolution import SuperResolution
from gan_engine.metrics import psnr, ssim


class Halve(Normalizer):
    invertible: ClassVar[bool] = True

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.5

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0


def _validate(module, dm):  # type: ignore[no-untyped-def]
    return trainer(limit_val_batches=None).validate(module, dm, verbose=False)[0]


@pytest.mark.parametrize(("bands", "has_sam"), [(3, False), (4, True)])
def test_validation_logs_the_fixed_names_and_sam_only_beyond_three_bands(bands: int, has_sam: bool) -> None:
    module = tiny_module({"Data.bands": bands})
    metrics = _validate(module, datamodule(module))
    assert {"val/psnr", "val/ssim", "val/psnr_bicubic", "val/ssim_bicubic", "val/content_loss"} <= set(metrics)
    assert ("val/sam" in metrics) is has_sam


def test_metrics_are_computed_on_denormalised_images_with_the_explicit_range() -> None:
    ge.normalizers.register("halve", Halve)
    module = tiny_module({"Normalization.name": "halve", "Training.EMA.enabled": False})
    dm = datamodule(module)
    metrics = _validate(module, dm)
    dm.setup()
    batch = next(iter(dm.val_dataloader()))
    with torch.no_grad():
        sr = module.generator(batch["lr"] * 0.5) * 2.0  # normalise, generate, denormalise
    bicubic = F.interpolate(batch["lr"], size=batch["hr"].shape[-2:], mode="bicubic", align_corners=False)
    assert metrics["val/psnr"] == pytest.approx(psnr(sr, batch["hr"], 1.0).item(), rel=1e-5)
    assert metrics["val/ssim"] == pytest.approx(ssim(sr, batch["hr"], 1.0).item(), rel=1e-5)
    assert metrics["val/psnr_bicubic"] == pytest.approx(psnr(bicubic, batch["hr"], 1.0).item(), rel=1e-5)
    dm.data_range = 2.0  # the data module's range wins over the task's
    wider = _validate(module, dm)
    assert wider["val/psnr"] - metrics["val/psnr"] == pytest.approx(20 * torch.log10(torch.tensor(2.0)).item(),
                                                                    rel=1e-4)


def test_super_resolution_task_hooks() -> None:
    task = SuperResolution(scale=2, data_range=255.0)
    hr = torch.rand(2, 4, 8, 8) * 255
    lr = F.avg_pool2d(hr, 2)
    batch = {"lr": lr, "hr": hr}
    values = task.validation_metrics(hr, batch, task.data_range)
    assert values["psnr"] > 100 and values["ssim"] == pytest.approx(1.0) and values["sam"] == pytest.approx(0, abs=1e-3)
    assert values["psnr_bicubic"] < values["psnr"]
    assert list(task.panels(hr, batch)) == ["LR (bicubic)", "SR", "HR"]
    assert task.content_loss(hr, batch, {"l1": torch.nn.L1Loss()})["l1"] == 0
    assert task.branches == {"lr": "lr", "hr": "hr"} and task.output_branch == "hr"
    with pytest.raises(ValueError, match="data_range must be > 0"):
        SuperResolution(data_range=0)


def test_module_denormalises_branches_for_display() -> None:
    ge.normalizers.register("halve", Halve)
    module = tiny_module({"Normalization.name": "halve"})
    batch = module.prepare({"lr": torch.ones(1, 3, 4, 4), "hr": torch.ones(1, 3, 16, 16)})
    assert torch.all(batch["lr"] == 0.5)
    assert torch.all(module.denormalize_batch(batch)["hr"] == 1.0)
    assert torch.all(module.denormalize(batch["hr"], "hr") == 1.0)
