r"""LPIPS (Zhang et al., 2018): a learned perceptual distance, for any band count.

Backbone features (AlexNet or VGG16, ImageNet weights) of both images are normalised to
unit length along the channels at every pixel; their squared difference is weighted per
channel by a learned non-negative 1×1 layer, averaged over pixels and summed over layers.
The backbone weights come from ``weights_path`` or the torch hub cache; the linear layers
from ``lpips_weights_path``, the hub cache (``lpips_alex.pth`` / ``lpips_vgg.pth``) or the
copy torchmetrics ships. Nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from gan_engine.components.losses.base import ContentLoss, check_pair, check_weight, resize_weight
from gan_engine.nn.bands import BandSpec, band_triplets, select_triplets
from gan_engine.nn.pretrained import (
    ALEXNET,
    VGG16,
    FrozenNet,
    PretrainedSpec,
    alexnet_features,
    load_into,
    load_state_dict_file,
    resolve_weights,
    vgg_features,
)
from gan_engine.registry import losses

__all__ = ["LPIPSLoss", "LPIPSNetwork", "lpips_distance"]

# The backbone layers LPIPS reads (after each ReLU), and their widths.
_TAPS = {"alex": [1, 4, 7, 9, 11], "vgg": [3, 8, 15, 22, 29]}
_WIDTHS = {"alex": [64, 192, 384, 256, 256], "vgg": [64, 128, 256, 512, 512]}
_BACKBONES = {"alex": (ALEXNET, alexnet_features), "vgg": (VGG16, lambda: vgg_features("vgg16"))}
# LPIPS's input scaling layer: from [-1, 1] to roughly ImageNet statistics.
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def _head_spec(net: str) -> PretrainedSpec:
    return PretrainedSpec(f"LPIPS {net} linear layers", f"lpips_{net}.pth",
                          f"https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/{net}.pth")


def _bundled_heads(net: str) -> list[Path]:
    try:
        import torchmetrics
    except ImportError:  # pragma: no cover - torchmetrics is a dependency
        return []
    return [Path(torchmetrics.__file__).parent / "functional" / "image" / "lpips_models" / f"{net}.pth"]


class LPIPSNetwork(nn.Module):
    """Backbone and linear heads of LPIPS: ``(M, 3, H, W)`` pairs in [-1, 1] → per-layer distance maps.

    Args:
        net: ``"alex"`` or ``"vgg"``.
    """

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in _TAPS:
            raise ValueError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
        self.net, self.taps = net, _TAPS[net]
        self.backbone = _BACKBONES[net][1]()[: max(self.taps) + 1]
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _WIDTHS[net])
        self.shift: Tensor
        self.scale: Tensor
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)

    def load_heads(self, path: str | os.PathLike[str]) -> None:
        """Load the linear layers from an LPIPS file (``lin{i}.model.1.weight`` keys) or our own layout."""
        state = load_state_dict_file(path)
        renamed = {}
        for i in range(len(self.heads)):
            key = next((k for k in state if k in (f"lin{i}.model.1.weight", f"lin{i}.weight", f"{i}.weight")), None)
            if key is not None:
                head: nn.Conv2d = self.heads[i]  # type: ignore[assignment]
                renamed[f"{i}.weight"] = state[key].reshape(head.weight.shape)
        if len(renamed) != len(self.heads):
            raise ValueError(f"{path} does not hold the {len(self.heads)} LPIPS {self.net} linear layers "
                             f"(found keys {sorted(state)[:6]})")
        self.heads.load_state_dict(renamed)

    def forward(self, x: Tensor, y: Tensor) -> list[Tensor]:
        """Per-layer ``(M, 1, h, w)`` distance maps between ``x`` and ``y`` (both ``(M, 3, H, W)`` in [-1, 1])."""
        h = (torch.cat([x, y]) - self.shift) / self.scale
        maps, k = [], 0
        for i, layer in enumerate(self.backbone):
            h = layer(h)
            if i in self.taps:
                fx, fy = (h / (h.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)).chunk(2)
                maps.append(self.heads[k]((fx - fy).square()))
                k += 1
        return maps


def lpips_distance(pred: Tensor, target: Tensor, network: nn.Module, *, bands: BandSpec = None,
                   input_range: Sequence[float] = (0.0, 1.0), weight: Tensor | None = None,
                   reduction: str = "mean") -> Tensor:
    r"""LPIPS between prediction and target, averaged over band triplets.

    .. math:: d(\hat y, y) = \frac{1}{T}\sum_t \sum_l \frac{1}{|\Omega_l|}\sum_{\Omega_l}
              w_l^\top \big(\hat f^{\,l}_t - f^{\,l}_t\big)^{2}, \qquad
              \hat f^{\,l} = \frac{\phi_l(\hat y)}{\|\phi_l(\hat y)\|_{\text{channels}}}

    Args:
        pred: ``(N, C, H, W)`` prediction.
        target: ``(N, C, H, W)`` reference.
        network: an :class:`LPIPSNetwork` (or anything with its call signature).
        bands: band triplets (see :func:`gan_engine.nn.band_triplets`).
        input_range: ``(low, high)`` of the data, mapped to [-1, 1].
        weight: optional per-pixel weight, area-averaged onto each layer's grid.
        reduction: ``"mean"`` over the batch, or ``"none"`` for one distance per image ``(N,)``.
    """
    check_pair(pred, target, "lpips")
    check_weight(weight, pred, "lpips")
    low, high = float(input_range[0]), float(input_range[1])
    triplets = band_triplets(bands, pred.shape[1])
    x, y = (2.0 * (select_triplets(t, triplets) - low) / (high - low) - 1.0 for t in (pred, target))
    w = None if weight is None else weight.mean(dim=1, keepdim=True).repeat(len(triplets), 1, 1, 1)
    per_image = pred.new_zeros(x.shape[0])
    for m in network(x, y):
        if w is None:
            per_image = per_image + m.mean(dim=(1, 2, 3))
        else:
            mw = resize_weight(w, m.shape[-2:])
            per_image = per_image + (m * mw).sum(dim=(1, 2, 3)) / mw.sum(dim=(1, 2, 3)).clamp_min(1e-12)
    per_image = per_image.view(len(triplets), pred.shape[0]).mean(dim=0)
    return per_image.mean() if reduction == "mean" else per_image


@losses.register("lpips")
class LPIPSLoss(ContentLoss):
    """LPIPS as a content loss (or, under ``no_grad``, a metric); see :func:`lpips_distance`.

    Args:
        net: backbone, ``"alex"`` (the LPIPS default; inputs of at least 32×32) or ``"vgg"``.
        bands: ``None`` (automatic), one triplet or a list of triplets; see
            :func:`gan_engine.nn.band_triplets`.
        input_range: ``(low, high)`` of the normalised data.
        weights_path: backbone weights file; default the torch hub cache
            (``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth``).
        lpips_weights_path: linear-layer file; default the hub cache (``lpips_alex.pth`` /
            ``lpips_vgg.pth``), then the copy shipped with torchmetrics.
    """

    def __init__(self, net: Literal["alex", "vgg"] = "alex", bands: BandSpec = None,
                 input_range: Sequence[float] = (0.0, 1.0), weights_path: str | os.PathLike[str] | None = None,
                 lpips_weights_path: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        network = LPIPSNetwork(net)
        spec = _BACKBONES[net][0]
        backbone = resolve_weights(spec, weights_path, user="loss 'lpips'")
        load_into(network.backbone, backbone, prefix="features.", strict_keys=set(network.backbone.state_dict()))
        network.load_heads(resolve_weights(_head_spec(net), lpips_weights_path, user="loss 'lpips'",
                                           fallbacks=_bundled_heads(net)))
        self.network = FrozenNet(network)
        self.bands, self.input_range = bands, tuple(input_range)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return lpips_distance(pred, target, self.network, bands=self.bands, input_range=self.input_range,
                              weight=weight)
