"""Feeding multispectral images to networks trained on RGB: band triplets and input scaling.

ImageNet networks (VGG, AlexNet, Inception) take three channels with ImageNet statistics.
A multispectral image is shown to them as one or more *triplets* of band indices; the
result is averaged over the triplets. The choice is always deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from gan_engine.errors import ShapeError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "BandSpec", "band_triplets", "select_triplets", "to_imagenet"]

#: ``None`` (automatic), one triplet ``[r, g, b]``, or a list of triplets.
BandSpec = Sequence[int] | Sequence[Sequence[int]] | None

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _default_triplets(channels: int) -> list[tuple[int, int, int]]:
    if channels < 3:
        return [(0, min(1, channels - 1), 0)]
    starts = list(range(0, channels - 2, 3))
    if starts[-1] + 3 < channels:  # cover the last bands with the final three
        starts.append(channels - 3)
    return [(s, s + 1, s + 2) for s in starts]


def band_triplets(bands: BandSpec, channels: int) -> list[tuple[int, int, int]]:
    """The band triplets shown to an RGB network for an image with ``channels`` bands.

    Args:
        bands: ``None`` picks automatically: a single band is repeated (grey), two bands
            give ``(0, 1, 0)``, three bands pass through, and more than three are covered
            by consecutive triplets ``(0, 1, 2), (3, 4, 5), …`` whose last one ends on the
            last band (13 bands give 5 triplets). Otherwise one triplet ``[r, g, b]`` or a
            list of triplets, as band indices.
        channels: bands of the image.

    Raises:
        ShapeError: an index is out of range or a triplet does not have three entries.
    """
    if channels < 1:
        raise ShapeError(f"band selection needs an image with at least one band, got {channels}")
    if bands is None:
        return _default_triplets(channels)
    items: list[Any] = list(bands)
    nested: list[list[Any]] = [list(t) for t in items] if items and not isinstance(items[0], int) else [items]
    triplets: list[tuple[int, int, int]] = []
    for t in nested:
        if len(t) != 3 or not all(isinstance(i, int) and -channels <= i < channels for i in t):
            raise ShapeError(f"bands must be triplets of band indices in [0, {channels - 1}] for this "
                             f"{channels}-band image; got {t!r} in bands={bands!r}")
        triplets.append((int(t[0]) % channels, int(t[1]) % channels, int(t[2]) % channels))
    return triplets


def select_triplets(x: Tensor, triplets: Sequence[tuple[int, int, int]]) -> Tensor:
    """Stack the triplets of ``x`` along the batch: ``(N, C, H, W)`` → ``(T·N, 3, H, W)``.

    The first ``N`` rows are the first triplet, the next ``N`` the second, and so on. Built
    from slices, so no index tensor is copied to the device on every call.
    """
    return torch.cat([torch.stack([x[:, i] for i in t], dim=1) for t in triplets], dim=0)


def to_imagenet(x: Tensor, input_range: Sequence[float]) -> Tensor:
    """Map ``x`` from ``input_range = (low, high)`` to [0, 1], then standardise with ImageNet statistics."""
    low, high = float(input_range[0]), float(input_range[1])
    if not high > low:
        raise ValueError(f"input_range must be (low, high) with high > low, got {tuple(input_range)}")
    # Python scalars per channel: no constant tensor is copied to the device on every call.
    return torch.cat([((x[:, c : c + 1] - low) / (high - low) - m) / s
                      for c, (m, s) in enumerate(zip(IMAGENET_MEAN, IMAGENET_STD))], dim=1)
