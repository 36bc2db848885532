"""Embedded data for image-to-image, inpainting and synthesis: procedural, deterministic, offline.

All three build on :func:`~gan_engine.data.synthetic.make_scenes` (multi-band scenes with
smooth fields, sharp shapes, textures and thin lines), so every example and test trains
without downloading anything and sees the same data on every machine.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_engine.data.base import GanDataModule, SceneSize
from gan_engine.data.datasets import Extra, MaskExtra, PatchDataset, TensorLoader
from gan_engine.data.masks import MASK_GENERATORS, MaskKind
from gan_engine.data.synthetic import make_scenes
from gan_engine.errors import ConfigError, ConfigIssue
from gan_engine.params import NonNegativeInt, PositiveInt
from gan_engine.registry import datamodules

__all__ = ["SyntheticI2IDataModule", "SyntheticInpaintingDataModule", "SyntheticSynthesisDataModule"]


class _SyntheticModule(GanDataModule):
    """Common parts: scene sizes, split sizes, seeds, loaders.

    Args:
        bands: bands of the target images.
        size: side of the square images.
        train_size: number of training scenes.
        val_size: number of validation scenes (built with ``seed + 1``).
        seed: seed of the scenes.
        augment: random flips and right-angle rotations during training.
        batch_size: training batch size.
        val_batch_size: validation batch size; default: ``batch_size``.
        num_workers: data-loader worker processes.
        pin_memory: page-locked host memory; default: on when CUDA is available.
    """

    factors: ClassVar[dict[str, int]] = {"image": 1}

    def __init__(self, bands: int, size: int, train_size: int, val_size: int, seed: int, augment: bool,
                 batch_size: int, val_batch_size: int | None, num_workers: int, pin_memory: bool | None) -> None:
        super().__init__(batch_size, val_batch_size, num_workers, pin_memory, seed=seed)
        if bands < 1 or size < 8 or train_size < 1 or val_size < 1:
            raise ConfigError([ConfigIssue("Data", "bands ≥ 1, size ≥ 8, train_size ≥ 1 and val_size ≥ 1 are "
                                           f"required; got {bands}, {size}, {train_size}, {val_size}")])
        self.bands, self.size, self.seed, self.augment = bands, size, seed, augment
        self.train_size, self.val_size = train_size, val_size

    @abstractmethod
    def make(self, n: int, seed: int) -> dict[str, Tensor]:
        """``n`` samples as named tensors sharing their first dimension."""

    def extras(self) -> list[Extra]:
        """Functions completing each item (e.g. hole masks)."""
        return []

    def build(self) -> None:
        for split, n, seed in (("train", self.train_size, self.seed), ("val", self.val_size, self.seed + 1)):
            data = self.make(n, seed)
            ds = PatchDataset(TensorLoader(data), n, self.factors, None, train=split == "train",
                              augment=self.augment, extras=self.extras(), seed=seed)
            setattr(self, f"{split}_set", ds)


@datamodules.register("synthetic_i2i")
class SyntheticI2IDataModule(_SyntheticModule):
    """Paired A → B translation of procedural scenes: batches ``{"cond": A, "image": B}``.

    B is a multi-band scene at full resolution. A is what a pan-sharpening sensor sees: a
    sharp panchromatic band (a fixed weighted mean of B's bands, gamma-compressed) followed
    by the first ``in_bands - 1`` bands of B at ``1/hint_scale`` of the resolution (block
    means, upsampled back bilinearly). With ``in_bands = bands + 1`` this is pan-sharpening;
    with ``in_bands = 1`` only the grey band is left and the task becomes colourisation
    (ill-posed: the scenes' colours are random). The panchromatic weights depend on
    ``seed`` only, so training and validation share the mapping.

    Args:
        bands: bands of B.
        in_bands: channels of A, from 1 to ``bands + 1``.
        size: side of the images (a multiple of ``hint_scale``).
        hint_scale: resolution ratio between B and the low-resolution bands of A.
        train_size: number of training pairs.
        val_size: number of validation pairs.
        seed: seed of the scenes and of the mapping.
        augment: random flips and right-angle rotations during training (shared by A and B).
        batch_size: training batch size.
        val_batch_size: validation batch size; default: ``batch_size``.
        num_workers: data-loader worker processes.
        pin_memory: page-locked host memory; default: on when CUDA is available.
    """

    factors: ClassVar[dict[str, int]] = {"cond": 1, "image": 1}

    def __init__(self, bands: PositiveInt = 3, in_bands: PositiveInt = 4, size: SceneSize = 32,
                 hint_scale: PositiveInt = 4, train_size: PositiveInt = 256, val_size: PositiveInt = 32,
                 seed: NonNegativeInt = 0, augment: bool = True, batch_size: PositiveInt = 8,
                 val_batch_size: PositiveInt | None = None, num_workers: NonNegativeInt = 0,
                 pin_memory: bool | None = None) -> None:
        super().__init__(bands, size, train_size, val_size, seed, augment, batch_size, val_batch_size,
                         num_workers, pin_memory)
        if not 1 <= in_bands <= bands + 1 or hint_scale < 1 or size % hint_scale:
            raise ConfigError([ConfigIssue("Data", f"synthetic_i2i needs 1 ≤ in_bands ≤ bands + 1 ({bands + 1}) and "
                                           f"size a multiple of hint_scale; got in_bands={in_bands}, "
                                           f"size={size}, hint_scale={hint_scale}")])
        self.in_bands, self.hint_scale = in_bands, hint_scale
        weights = torch.rand(bands, generator=torch.Generator().manual_seed(seed + 7919)) + 0.1
        self.pan_weights = weights / weights.sum()

    def make(self, n: int, seed: int) -> dict[str, Tensor]:
        image = make_scenes(n, self.bands, self.size, seed)
        pan = torch.einsum("b,nbhw->nhw", self.pan_weights, image)[:, None].clamp(0, 1) ** 0.8
        hints = image[:, : self.in_bands - 1]
        if self.hint_scale > 1:
            hints = F.interpolate(F.avg_pool2d(hints, self.hint_scale), size=image.shape[-2:], mode="bilinear",
                                  align_corners=False)
        return {"cond": torch.cat([pan, hints], dim=1).contiguous(), "image": image}


@datamodules.register("synthetic_inpainting")
class SyntheticInpaintingDataModule(_SyntheticModule):
    """Procedural scenes with hole masks: batches ``{"image", "mask"}`` (mask 1 = hole).

    Training masks are drawn afresh for every item; validation masks are fixed per item.

    Args:
        bands: bands of the images.
        size: side of the images.
        mask: ``boxes``, ``strokes`` or ``mixed``.
        train_size: number of training scenes.
        val_size: number of validation scenes.
        seed: seed of the scenes (validation: ``seed + 1``).
        augment: random flips and right-angle rotations during training.
        batch_size: training batch size.
        val_batch_size: validation batch size; default: ``batch_size``.
        num_workers: data-loader worker processes.
        pin_memory: page-locked host memory; default: on when CUDA is available.
    """

    def __init__(self, bands: PositiveInt = 3, size: SceneSize = 32, mask: MaskKind = "mixed",
                 train_size: PositiveInt = 256, val_size: PositiveInt = 32, seed: NonNegativeInt = 0,
                 augment: bool = True, batch_size: PositiveInt = 8, val_batch_size: PositiveInt | None = None,
                 num_workers: NonNegativeInt = 0, pin_memory: bool | None = None) -> None:
        super().__init__(bands, size, train_size, val_size, seed, augment, batch_size, val_batch_size,
                         num_workers, pin_memory)
        if mask not in MASK_GENERATORS:
            raise ConfigError([ConfigIssue("Data.mask", f"must be one of {sorted(MASK_GENERATORS)}, got {mask!r}")])
        self.mask = mask

    def make(self, n: int, seed: int) -> dict[str, Tensor]:
        return {"image": make_scenes(n, self.bands, self.size, seed)}

    def extras(self) -> list[Extra]:
        return [MaskExtra(self.mask, "image")]


@datamodules.register("synthetic_synthesis")
class SyntheticSynthesisDataModule(_SyntheticModule):
    """Procedural scenes for generation from noise: batches ``{"image"}`` or ``{"image", "label"}``.

    With ``num_classes > 0`` every scene belongs to a class, which sets its palette (a
    per-class gain on each band and a contrast curve), so a class-conditional generator
    has something to learn from the label.

    Args:
        bands: bands of the images.
        size: side of the images.
        num_classes: number of classes; 0 for unconditional data.
        train_size: number of training scenes.
        val_size: number of validation scenes.
        seed: seed of the scenes (validation: ``seed + 1``).
        augment: random flips and right-angle rotations during training.
        batch_size: training batch size.
        val_batch_size: validation batch size; default: ``batch_size``.
        num_workers: data-loader worker processes.
        pin_memory: page-locked host memory; default: on when CUDA is available.
    """

    def __init__(self, bands: PositiveInt = 3, size: SceneSize = 32, num_classes: NonNegativeInt = 0,
                 train_size: PositiveInt = 512, val_size: PositiveInt = 64, seed: NonNegativeInt = 0,
                 augment: bool = True, batch_size: PositiveInt = 16, val_batch_size: PositiveInt | None = None,
                 num_workers: NonNegativeInt = 0, pin_memory: bool | None = None) -> None:
        super().__init__(bands, size, train_size, val_size, seed, augment, batch_size, val_batch_size,
                         num_workers, pin_memory)
        if num_classes < 0:
            raise ConfigError([ConfigIssue("Data.num_classes", f"must be ≥ 0, got {num_classes}")])
        self.num_classes = num_classes
        g = torch.Generator().manual_seed(seed + 104729)
        self.gains = 0.35 + 0.65 * torch.rand(max(num_classes, 1), bands, generator=g)
        self.gammas = torch.linspace(0.6, 1.6, max(num_classes, 1))

    def make(self, n: int, seed: int) -> dict[str, Any]:
        image = make_scenes(n, self.bands, self.size, seed)
        if self.num_classes == 0:
            return {"image": image}
        label = torch.arange(n) % self.num_classes
        image = image ** self.gammas[label][:, None, None, None] * self.gains[label][:, :, None, None]
        return {"image": image.clamp(0, 1), "label": label}
