"""Super-resolution: a low-resolution image in, a high-resolution image out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor

from gan_engine.components.tasks.base import Task
from gan_engine.errors import ShapeError
from gan_engine.metrics import psnr, spectral_angle, ssim
from gan_engine.registry import tasks

__all__ = ["SuperResolution"]


@tasks.register("super_resolution")
class SuperResolution(Task):
    """LR ``(N, C, h, w)`` → HR ``(N, C, h·scale, w·scale)``.

    Validation logs ``psnr``, ``ssim`` and the bicubic baseline ``psnr_bicubic``,
    ``ssim_bicubic`` (the LR image upsampled bicubically, on the same batches), plus the
    spectral angle ``sam`` (radians) for more than three bands.

    Args:
        scale: upsampling factor between the LR and HR images.
        data_range: span of valid values of the denormalised images (1.0 for reflectance
            in [0, 1], 10000 for Sentinel-2 digital numbers, ...).
    """

    batch_keys: ClassVar[tuple[str, ...]] = ("lr", "hr")
    input_keys: ClassVar[tuple[str, ...]] = ("lr",)
    branches: ClassVar[Mapping[str, str]] = {"lr": "lr", "hr": "hr"}

    def __init__(self, scale: int = 4, data_range: float = 1.0) -> None:
        if scale < 1:
            raise ValueError(f"scale must be ≥ 1, got {scale}")
        if data_range <= 0:
            raise ValueError(f"data_range must be > 0, got {data_range}")
        self.scale, self.data_range = scale, data_range

    def prepare_batch(self, batch: Any) -> dict[str, Tensor]:
        if isinstance(batch, (tuple, list)) and len(batch) == 2:
            batch = {"lr": batch[0], "hr": batch[1]}
        if not isinstance(batch, Mapping) or not {"lr", "hr"} <= set(batch):
            raise ShapeError("a super-resolution batch is a mapping with 'lr' and 'hr' tensors "
                             f"(or a 2-tuple (lr, hr)); got {type(batch).__name__}")
        lr, hr = batch["lr"], batch["hr"]
        if lr.ndim != 4 or hr.ndim != 4 or hr.shape[-2:] != (lr.shape[-2] * self.scale, lr.shape[-1] * self.scale):
            raise ShapeError(f"expected lr (N, C, h, w) and hr (N, C, h·{self.scale}, w·{self.scale}); "
                             f"got lr {tuple(lr.shape)} and hr {tuple(hr.shape)}")
        return dict(batch)

    def generator_inputs(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, ...]:
        return (batch["lr"],)

    def real(self, batch: Mapping[str, Tensor]) -> Tensor:
        return batch["hr"]

    def bicubic(self, batch: Mapping[str, Tensor]) -> Tensor:
        """The LR image upsampled bicubically to the HR size: the baseline every model must beat."""
        return F.interpolate(batch["lr"], size=batch["hr"].shape[-2:], mode="bicubic", align_corners=False)

    def panels(self, fake: Tensor, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {"LR (bicubic)": self.bicubic(batch), "SR": fake, "HR": batch["hr"]}

    def validation_metrics(self, fake: Tensor, batch: Mapping[str, Tensor], data_range: float) -> dict[str, Tensor]:
        hr, base = batch["hr"], self.bicubic(batch)
        out = {"psnr": psnr(fake, hr, data_range), "ssim": ssim(fake, hr, data_range),
               "psnr_bicubic": psnr(base, hr, data_range), "ssim_bicubic": ssim(base, hr, data_range)}
        if hr.shape[1] > 3:
            out["sam"] = spectral_angle(fake, hr)
        return out
