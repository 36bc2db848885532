"""Super-resolution: a low-resolution image in, a high-resolution image out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor

from gan_engine.errors import ShapeError
from gan_engine.registry import tasks
from gan_engine.tasks.base import Task

__all__ = ["SuperResolution"]


@tasks.register("super_resolution")
class SuperResolution(Task):
    """LR ``(N, C, h, w)`` → HR ``(N, C, h·scale, w·scale)``.

    Args:
        scale: upsampling factor between the LR and HR images.
    """

    batch_keys: ClassVar[tuple[str, ...]] = ("lr", "hr")

    def __init__(self, scale: int = 4) -> None:
        if scale < 1:
            raise ValueError(f"scale must be ≥ 1, got {scale}")
        self.scale = scale

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
