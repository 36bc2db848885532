"""Image-to-image translation: a paired input A becomes an output B (pix2pix-style)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from gan_engine.components.tasks.base import Task
from gan_engine.errors import ShapeError
from gan_engine.metrics import psnr, ssim
from gan_engine.registry import tasks

__all__ = ["ImageToImage", "as_mapping"]


def as_mapping(batch: Any, keys: tuple[str, ...], task: str) -> dict[str, Tensor]:
    """A batch as a dict: mappings are copied, tuples are zipped with ``keys``."""
    if isinstance(batch, (tuple, list)) and len(batch) == len(keys):
        batch = dict(zip(keys, batch))
    if not isinstance(batch, Mapping) or not set(keys) <= set(batch):
        raise ShapeError(f"a {task} batch is a mapping with {', '.join(map(repr, keys))} tensors (or a "
                         f"{len(keys)}-tuple in that order); got {type(batch).__name__}"
                         + (f" with keys {sorted(batch)}" if isinstance(batch, Mapping) else ""))
    return dict(batch)


@tasks.register("image_to_image")
class ImageToImage(Task):
    """Paired translation A ``(N, C_a, H, W)`` → B ``(N, C_b, H, W)``, as in pix2pix.

    Batches hold ``"cond"`` (A, the generator's input) and ``"image"`` (B, the target).
    The discriminator is conditional by default: it sees A concatenated with the real or
    generated B along the bands, so it judges whether an output fits *its* input, not only
    whether it looks real. A goes through the generator-input (``lr``) normalisation
    branch, B through the target (``hr``) one.

    Args:
        in_bands: bands of A; default: the same as B (``Data.bands``).
        conditional_discriminator: concatenate A to the discriminator's input.
    """

    batch_keys: ClassVar[tuple[str, ...]] = ("cond", "image")
    branches: ClassVar[Mapping[str, str]] = {"cond": "lr", "image": "hr"}
    input_keys: ClassVar[tuple[str, ...]] = ("cond",)

    def __init__(self, in_bands: int | None = None, conditional_discriminator: bool = True) -> None:
        if in_bands is not None and in_bands < 1:
            raise ValueError(f"in_bands must be ≥ 1, got {in_bands}")
        self.in_bands, self.conditional = in_bands, conditional_discriminator
        self.scale = 1

    def generator_channels(self, bands: int) -> tuple[int, int]:
        return self.in_bands or bands, bands

    def discriminator_channels(self, bands: int) -> int:
        return bands + (self.in_bands or bands) if self.conditional else bands

    def derived_params(self, bands: int) -> dict[str, dict[str, Any]]:
        return {"Data": {"in_bands": self.in_bands or bands}}

    def prepare_batch(self, batch: Any) -> dict[str, Tensor]:
        out = as_mapping(batch, self.batch_keys, "image-to-image")
        cond, image = out["cond"], out["image"]
        if cond.ndim != 4 or image.ndim != 4 or cond.shape[-2:] != image.shape[-2:] or cond.shape[0] != image.shape[0]:
            raise ShapeError("expected cond (N, C_a, H, W) and image (N, C_b, H, W) of the same size; got cond "
                             f"{tuple(cond.shape)} and image {tuple(image.shape)}")
        if self.in_bands is not None and cond.shape[1] != self.in_bands:
            raise ShapeError(f"cond has {cond.shape[1]} bands but Task.in_bands is {self.in_bands}; make them agree")
        return out

    def prepare_inputs(self, batch: Any) -> dict[str, Tensor]:
        out = super().prepare_inputs(batch)
        if self.in_bands is not None and out["cond"].shape[1] != self.in_bands:
            raise ShapeError(f"cond has {out['cond'].shape[1]} bands but Task.in_bands is {self.in_bands}; "
                             "make them agree")
        return out

    def generator_inputs(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, ...]:
        return (batch["cond"],)

    def real(self, batch: Mapping[str, Tensor]) -> Tensor:
        return batch["image"]

    def discriminator_input(self, image: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        return torch.cat([batch["cond"].to(image.dtype), image], dim=1) if self.conditional else image

    def validation_metrics(self, fake: Tensor, batch: Mapping[str, Tensor], data_range: float) -> dict[str, Tensor]:
        """PSNR, SSIM and mean absolute error of the output against B."""
        target = batch["image"]
        return {"psnr": psnr(fake, target, data_range), "ssim": ssim(fake, target, data_range),
                "l1": (fake.float() - target.float()).abs().mean()}

    def panels(self, fake: Tensor, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Columns: input A, output, target B."""
        return {"A (input)": batch["cond"], "Output": fake, "B (target)": batch["image"]}
