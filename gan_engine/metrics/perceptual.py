"""Network-based metrics: LPIPS, FID and KID, with local weights only and any band count.

All three accumulate on the metric's device (torchmetrics states) and reduce there.

- :class:`LPIPSMetric` averages :func:`gan_engine.components.losses.lpips.lpips_distance` over images.
- :class:`FID` / :class:`KID` are torchmetrics' ``FrechetInceptionDistance`` and
  ``KernelInceptionDistance`` fed by :class:`InceptionFeatures`: torchvision's ImageNet
  Inception-v3 (``inception_v3_google-0cc3c7bd.pth``, from ``weights_path`` or the torch hub
  cache), its 2048-d pooled features, on band triplets averaged per image. Scores are
  comparable between runs of gan_engine, **not** with published FIDs, which use the
  TensorFlow Inception graph (torch-fidelity's ``pt_inception-2015-12-05`` weights).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from gan_engine.components.losses.lpips import LPIPSLoss, lpips_distance
from gan_engine.nn.bands import BandSpec, band_triplets, select_triplets, to_imagenet
from gan_engine.nn.pretrained import (
    INCEPTION_V3,
    FrozenNet,
    inception_v3_features,
    load_into,
    resolve_weights,
    strip_inception_head,
)

__all__ = ["FID", "KID", "InceptionFeatures", "LPIPSMetric"]

PathLike = str | os.PathLike[str]


class InceptionFeatures(nn.Module):
    """Inception-v3 pooled features of multispectral images: ``(N, C, H, W)`` → ``(N, 2048)``.

    Each band triplet is mapped from ``input_range`` to ImageNet statistics, resized to
    ``resize`` pixels (bilinear) and passed through the frozen network; the features of an
    image's triplets are averaged.

    Args:
        weights_path: Inception-v3 weights; default the torch hub cache.
        bands: band triplets (see :func:`gan_engine.nn.band_triplets`).
        input_range: ``(low, high)`` of the data.
        resize: side the images are resized to (299 for Inception; at least 75), or ``None``.
    """

    num_features = 2048

    def __init__(self, weights_path: PathLike | None = None, bands: BandSpec = None,
                 input_range: Sequence[float] = (0.0, 1.0), resize: int | None = 299) -> None:
        super().__init__()
        net = inception_v3_features()
        load_into(net, resolve_weights(INCEPTION_V3, weights_path, user="metric FID/KID"))
        self.net = FrozenNet(strip_inception_head(net))
        self.bands, self.input_range, self.resize = bands, tuple(input_range), resize

    def forward(self, x: Tensor) -> Tensor:
        triplets = band_triplets(self.bands, x.shape[1])
        h = to_imagenet(select_triplets(x, triplets), self.input_range)
        if self.resize is not None:
            h = F.interpolate(h, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
        with torch.no_grad():
            feats: Tensor = self.net(h)
        return feats.view(len(triplets), x.shape[0], -1).mean(dim=0)


def _features(feature: nn.Module | None, weights_path: PathLike | None, bands: BandSpec,
              input_range: Sequence[float], resize: int | None) -> nn.Module:
    return feature if feature is not None else InceptionFeatures(weights_path, bands, input_range, resize)


class FID(FrechetInceptionDistance):
    """Fréchet Inception distance on any band count, with local Inception weights.

    ``update(images, real=True|False)``, then ``compute()``. Lower is better.

    Args:
        weights_path: Inception-v3 weights; default the torch hub cache.
        bands: band triplets shown to Inception.
        input_range: ``(low, high)`` of the images.
        resize: side images are resized to.
        feature: a feature module used instead of a new :class:`InceptionFeatures` (e.g. one
            shared with :class:`KID`); it maps the images passed to ``update`` to ``(N, D)``
            features and exposes ``num_features = D``. The four arguments above are then unused.
        **kwargs: passed to torchmetrics (e.g. ``reset_real_features``).
    """

    def __init__(self, weights_path: PathLike | None = None, bands: BandSpec = None,
                 input_range: Sequence[float] = (0.0, 1.0), resize: int | None = 299, *,
                 feature: nn.Module | None = None, **kwargs: Any) -> None:
        super().__init__(feature=_features(feature, weights_path, bands, input_range, resize), **kwargs)


class KID(KernelInceptionDistance):
    """Kernel Inception distance on any band count, with local Inception weights.

    ``compute()`` returns ``(mean, std)`` over ``subsets`` random subsets of ``subset_size``
    images; ``subset_size`` must not exceed the number of images of either kind.

    Args:
        weights_path: Inception-v3 weights; default the torch hub cache.
        bands: band triplets shown to Inception.
        input_range: ``(low, high)`` of the images.
        resize: side images are resized to.
        subset_size: images per subset.
        feature: a feature module used instead of a new :class:`InceptionFeatures`, as for :class:`FID`.
        **kwargs: passed to torchmetrics (``subsets``, ``degree``, ...).
    """

    def __init__(self, weights_path: PathLike | None = None, bands: BandSpec = None,
                 input_range: Sequence[float] = (0.0, 1.0), resize: int | None = 299, subset_size: int = 1000,
                 *, feature: nn.Module | None = None, **kwargs: Any) -> None:
        super().__init__(feature=_features(feature, weights_path, bands, input_range, resize),
                         subset_size=subset_size, **kwargs)


class LPIPSMetric(Metric):
    """Mean LPIPS between predictions and targets; lower is better.

    Args:
        net: ``"alex"`` or ``"vgg"``.
        bands: band triplets.
        input_range: ``(low, high)`` of the images.
        weights_path: backbone weights; default the torch hub cache.
        lpips_weights_path: linear-layer weights; default the hub cache, then torchmetrics' copy.
    """

    higher_is_better = False
    full_state_update = False
    total: Tensor
    count: Tensor

    def __init__(self, net: str = "alex", bands: BandSpec = None, input_range: Sequence[float] = (0.0, 1.0),
                 weights_path: PathLike | None = None, lpips_weights_path: PathLike | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        loss = LPIPSLoss(net, bands, input_range, weights_path, lpips_weights_path)  # type: ignore[arg-type]
        self.network, self.bands, self.input_range = loss.network, bands, tuple(input_range)
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: Tensor, target: Tensor) -> None:
        with torch.no_grad():
            d = lpips_distance(pred, target, self.network, bands=self.bands, input_range=self.input_range,
                               reduction="none")
        self.total += d.sum().double()
        self.count += d.numel()

    def compute(self) -> Tensor:
        return (self.total / self.count.clamp_min(1)).float()
