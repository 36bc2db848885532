"""One map-style data set behind every built-in data module: load, crop, augment, complete.

An item is loaded as a mapping of names to ``(C, H, W)`` tensors (plus scalars such as
class labels), cropped with one window aligned across resolutions, flipped/rotated the
same way everywhere, then completed by *extras*: small functions that add keys, such as
the degradation parameters of super-resolution or the hole mask of inpainting.

Randomness never comes from the global generator under the built-in training loaders: they
hand out :class:`~gan_engine.data.sampling.SampleKey` indices, and a training item draws its
crop, flips and extras from a generator seeded by ``key.seed`` (a function of the loader's
seed, the epoch and the index), so it is the same in every worker and after a resume.
Validation and test items use a generator seeded by ``(seed, index)``, identical on every run.
Under a plain loader (bare ``int`` indices) training items fall back to the global generator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from gan_engine.components.degradations.base import Degradation
from gan_engine.data.masks import make_mask
from gan_engine.data.transforms import base_size, choose_crop, crop_item, dihedral

__all__ = ["DEGRADATION_KEY", "DegradationExtra", "Extra", "MaskExtra", "PatchDataset", "TensorLoader"]

#: Batch key under which per-sample degradation parameters travel to the device.
DEGRADATION_KEY = "_degradation"
#: An extra completes an item in place: ``extra(item, rng)``.
Extra = Callable[[dict[str, Any], "torch.Generator | None"], None]
_CROP_TRIES = 8


class PatchDataset(Dataset[dict[str, Any]]):
    """Items from ``load(index)``, cropped, augmented and completed by ``extras``.

    Args:
        load: returns item ``index`` as a mapping of names to tensors.
        length: number of distinct items.
        factors: pixels of each image key per base-grid pixel (e.g. ``{"lr": 1, "hr": 4}``);
            a ``"valid"`` key, when present, follows the factor of ``valid_like``.
        crop: side of the crop on the base grid; ``None`` keeps whole items.
        train: random crops and augmentation, drawn from the seed a ``SampleKey`` index
            carries; otherwise centred crops and a per-index generator.
        augment: apply random flips and right-angle rotations (training only).
        extras: functions completing each item after cropping.
        seed: seed of the per-index generators of evaluation items.
        repeats: how many times each item is visited per epoch (random crops differ).
        valid_like: the key whose grid the ``"valid"`` (no-data) mask shares.
    """

    def __init__(self, load: Callable[[int], dict[str, Any]], length: int, factors: Mapping[str, int],
                 crop: int | None = None, train: bool = True, augment: bool = True, extras: Sequence[Extra] = (),
                 seed: int = 0, repeats: int = 1, valid_like: str | None = None) -> None:
        self.load, self.length, self.crop = load, length, crop
        self.factors = dict(factors)
        if valid_like is not None:
            self.factors["valid"] = self.factors[valid_like]
        self.train, self.augment, self.extras = train, augment, list(extras)
        self.seed, self.repeats = seed, max(1, repeats) if train else 1

    def __len__(self) -> int:
        return self.length * self.repeats

    def _rng(self, index: int) -> torch.Generator | None:
        if not self.train:
            return torch.Generator().manual_seed(self.seed * 1_000_003 + int(index))
        seed = getattr(index, "seed", None)  # a SampleKey from the built-in training loaders
        if seed is None:  # a plain loader: the global generator, seeded per worker by the loader
            return None
        return torch.Generator().manual_seed(seed)

    def _crop(self, item: dict[str, Any], rng: torch.Generator | None) -> dict[str, Any]:
        assert self.crop is not None
        height, width = base_size(item, self.factors)
        best, best_valid = item, -1.0
        for _ in range(_CROP_TRIES if self.train and "valid" in item else 1):
            top, left = choose_crop(height, width, self.crop, rng, self.train)
            cropped = crop_item(item, self.factors, top, left, self.crop)
            if "valid" not in cropped:
                return cropped
            fraction = float(cropped["valid"].mean())
            if fraction > best_valid:
                best, best_valid = cropped, fraction
            if fraction >= 1.0:
                break
        return best

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self._rng(index)
        item = dict(self.load(int(index) % self.length))
        if self.crop is not None:
            item = self._crop(item, rng)
        if self.train and self.augment:
            item = dihedral(item, list(self.factors), rng)
        for extra in self.extras:
            extra(item, rng)
        return item


class DegradationExtra:
    """Draws the degradation parameters of ``item[key]`` (an extra; picklable for workers)."""

    def __init__(self, degradation: Degradation, key: str = "hr") -> None:
        self.degradation, self.key = degradation, key

    def __call__(self, item: dict[str, Any], rng: torch.Generator | None) -> None:
        bands, height, width = item[self.key].shape
        params = self.degradation.sample(bands, height, width, rng)
        if params:
            item[DEGRADATION_KEY] = params


class MaskExtra:
    """Adds a ``"mask"`` hole mask (1 = hole) the size of ``item[key]`` (an extra)."""

    def __init__(self, kind: str, key: str = "image") -> None:
        self.kind, self.key = kind, key

    def __call__(self, item: dict[str, Any], rng: torch.Generator | None) -> None:
        height, width = item[self.key].shape[-2:]
        item["mask"] = make_mask(self.kind, height, width, rng)


class TensorLoader:
    """``load(index)`` over tensors that share their first (sample) dimension."""

    def __init__(self, tensors: Mapping[str, Tensor]) -> None:
        self.tensors = dict(tensors)

    def __call__(self, index: int) -> dict[str, Any]:
        return {k: v[index] for k, v in self.tensors.items()}
