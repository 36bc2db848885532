"""Synthesis: noise (and optionally a class label) in, a new image out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_engine.components.tasks.base import Task
from gan_engine.errors import ConfigError, ConfigIssue, ShapeError
from gan_engine.metrics.distribution import sliced_wasserstein
from gan_engine.registry import tasks

__all__ = ["Synthesis"]


@tasks.register("synthesis")
class Synthesis(Task):
    """Generate ``(N, C, H, W)`` images from latent vectors ``z`` ``(N, latent_dim)``.

    Batches hold the real ``"image"`` and, for class-conditional models
    (``num_classes > 0``), an integer ``"label"`` ``(N,)``. The generator gets ``(z,)`` or
    ``(z, label)`` with ``z`` drawn from a standard normal on the batch's device (or taken
    from the batch's ``"noise"`` key when present, e.g. for fixed sample grids). There is
    no content loss: the adversarial loss is the only signal. A class-conditional
    discriminator sees the image concatenated with one-hot label planes
    (``C + num_classes`` channels). Validation reports the sliced Wasserstein distance
    between real and generated patches (``swd``, needs no pretrained weights); image panels
    show samples with their labels in the caption.

    Args:
        latent_dim: length of ``z``; must match the generator's ``latent_dim``.
        num_classes: number of classes for class-conditional generation; 0 for none.
        conditional_discriminator: with classes, give the discriminator the label planes.
    """

    batch_keys: ClassVar[tuple[str, ...]] = ("image",)
    branches: ClassVar[Mapping[str, str]] = {"image": "hr"}
    has_content_target: ClassVar[bool] = False

    def __init__(self, latent_dim: int = 128, num_classes: int = 0, conditional_discriminator: bool = True) -> None:
        if latent_dim < 1 or num_classes < 0:
            raise ValueError(f"latent_dim must be ≥ 1 and num_classes ≥ 0, got {latent_dim} and {num_classes}")
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.conditional = conditional_discriminator and num_classes > 0
        self.scale = 1

    def generator_channels(self, bands: int) -> tuple[int, int]:
        return self.latent_dim, bands

    def discriminator_channels(self, bands: int) -> int:
        return bands + self.num_classes if self.conditional else bands

    def derived_params(self, bands: int) -> dict[str, dict[str, Any]]:
        return {"Data": {"num_classes": self.num_classes},
                "Generator": {"latent_dim": self.latent_dim, "n_classes": self.num_classes}}

    def prepare_batch(self, batch: Any) -> dict[str, Tensor]:
        if isinstance(batch, Tensor):
            batch = {"image": batch}
        elif isinstance(batch, (tuple, list)) and 1 <= len(batch) <= 2:
            batch = dict(zip(("image", "label"), batch))
        if not isinstance(batch, Mapping) or "image" not in batch:
            raise ShapeError("a synthesis batch is a mapping with an 'image' tensor (and 'label' for "
                             "class-conditional models), an image tensor, or a tuple (image, label); "
                             f"got {type(batch).__name__}")
        out = dict(batch)
        image = out["image"]
        if image.ndim != 4:
            raise ShapeError(f"expected image (N, C, H, W), got {tuple(image.shape)}")
        if self.num_classes and ("label" not in out or out["label"].shape != (image.shape[0],)):
            got = tuple(out["label"].shape) if "label" in out else "none"
            raise ShapeError(f"Task.num_classes is {self.num_classes}: the batch needs integer labels "
                             f"'label' of shape ({image.shape[0]},); got {got}")
        if "noise" in out and out["noise"].shape != (image.shape[0], self.latent_dim):
            raise ShapeError(f"'noise' must be (N, {self.latent_dim}) (Task.latent_dim); "
                             f"got {tuple(out['noise'].shape)}")
        return out

    def prepare_inputs(self, batch: Any) -> dict[str, Tensor]:
        """``{"noise": (N, latent_dim)}`` and/or ``{"label": (N,)}``; a bare tensor is the noise."""
        if isinstance(batch, Tensor):
            batch = {"noise": batch}
        if not isinstance(batch, Mapping) or not {"noise", "label"} & set(batch):
            raise ShapeError("a synthesis prediction batch holds 'noise' (N, latent_dim) and/or, for "
                             f"class-conditional models, 'label' (N,); got {type(batch).__name__}")
        out = dict(batch)
        if "noise" in out and (out["noise"].ndim != 2 or out["noise"].shape[1] != self.latent_dim):
            raise ShapeError(f"'noise' must be (N, {self.latent_dim}) (Task.latent_dim); "
                             f"got {tuple(out['noise'].shape)}")
        if self.num_classes and "label" not in out:
            raise ShapeError(f"Task.num_classes is {self.num_classes}: give integer labels 'label' (N,)")
        return out

    def generator_inputs(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, ...]:
        z = batch.get("noise")
        if z is None:
            like = batch["image"] if "image" in batch else batch["label"]
            dtype = like.dtype if like.is_floating_point() else torch.get_default_dtype()
            z = torch.randn(like.shape[0], self.latent_dim, device=like.device, dtype=dtype)
        return (z, batch["label"].long()) if self.num_classes else (z,)

    def real(self, batch: Mapping[str, Tensor]) -> Tensor:
        return batch["image"]

    def discriminator_input(self, image: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        if not self.conditional:
            return image
        planes = F.one_hot(batch["label"].long(), self.num_classes).to(image.dtype)[:, :, None, None]
        return torch.cat([image, planes.expand(-1, -1, *image.shape[-2:])], dim=1)

    def content_loss(self, fake: Tensor, batch: Mapping[str, Tensor],
                     terms: Mapping[str, Callable[..., Tensor]]) -> dict[str, Tensor]:
        """No content terms: a sample has no target to be compared with."""
        if terms:
            raise ConfigError([ConfigIssue("Losses.content", "synthesis has no content target; set "
                                           "'Losses.content: []'")])
        return {}

    def validation_metrics(self, fake: Tensor, batch: Mapping[str, Tensor], data_range: float) -> dict[str, Tensor]:
        """Sliced Wasserstein distance between real and generated patches (lower is better)."""
        return {"swd": sliced_wasserstein(batch["image"], fake)}

    def panels(self, fake: Tensor, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Columns: samples, and real images of the same classes."""
        return {"Sample": fake, "Real": batch["image"]}

    def panel_captions(self, batch: Mapping[str, Tensor]) -> list[str]:
        """``"class k"`` for each row of a class-conditional panel."""
        return [f"class {c}" for c in batch["label"].tolist()] if self.num_classes else []
