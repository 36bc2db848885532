r"""Perceptual loss: distances between VGG feature maps, for any band count.

The network is torchvision's ImageNet VGG19 (or VGG16), frozen, loaded from a local file
(see :mod:`gan_engine.nn.pretrained`; nothing is downloaded). Multispectral images are
shown to it as band triplets (:func:`gan_engine.nn.band_triplets`), mapped from
``input_range`` to [0, 1] and standardised with the ImageNet mean and deviation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from gan_engine.components.losses.base import ContentLoss, check_pair, check_weight, resize_weight, weighted_mean
from gan_engine.nn.bands import BandSpec, band_triplets, select_triplets, to_imagenet
from gan_engine.nn.pretrained import VGG16, VGG19, FrozenNet, load_into, resolve_weights, vgg_features, vgg_layer_names
from gan_engine.registry import losses

__all__ = ["PerceptualLoss", "VGGFeatures", "perceptual_loss"]

FeatureExtractor = Callable[[Tensor], list[Tensor]]
_CRITERIA: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "l1": lambda a, b: (a - b).abs(),
    "mse": lambda a, b: (a - b).square(),
}


class VGGFeatures(nn.Module):
    """The VGG feature maps at named layers, e.g. ``("relu2_2", "conv5_4")``.

    The network is cut after the deepest requested layer.

    Args:
        layers: layer names: ``conv{b}_{i}``, ``relu{b}_{i}`` or ``pool{b}``.
        arch: ``"vgg19"`` or ``"vgg16"``.
    """

    def __init__(self, layers: Sequence[str], arch: str = "vgg19") -> None:
        super().__init__()
        if arch not in ("vgg16", "vgg19"):
            raise ValueError(f"arch must be 'vgg19' or 'vgg16', got {arch!r}")
        names = vgg_layer_names(arch)
        unknown = [layer for layer in layers if layer not in names]
        if unknown or not layers:
            raise ValueError(f"unknown {arch} layer(s) {unknown or list(layers)}; valid names: {', '.join(names)}")
        self.taps = [names.index(layer) for layer in layers]
        self.features = vgg_features(arch)[: max(self.taps) + 1]

    def forward(self, x: Tensor) -> list[Tensor]:
        out: list[Tensor] = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        order = sorted(self.taps)
        return [out[order.index(t)] for t in self.taps]


def perceptual_loss(pred: Tensor, target: Tensor, extractor: FeatureExtractor, *,
                    layer_weights: Sequence[float] | None = None, criterion: str = "l1", bands: BandSpec = None,
                    input_range: Sequence[float] = (0.0, 1.0), weight: Tensor | None = None) -> Tensor:
    r"""Weighted distance between the feature maps of prediction and target.

    .. math:: \mathcal{L} = \frac{1}{T}\sum_{t=1}^{T}\sum_{l} \lambda_l \,
              \frac{1}{|\Omega_l|}\sum_{\Omega_l} \rho\big(\phi_l(\hat y_t) - \phi_l(y_t)\big)

    where :math:`t` runs over the band triplets, :math:`\phi_l` is the network's layer
    :math:`l` on the ImageNet-standardised triplet, :math:`\lambda_l` the layer weights and
    :math:`\rho` is :math:`|\cdot|` (``"l1"``) or :math:`(\cdot)^2` (``"mse"``).

    Args:
        pred: ``(N, C, H, W)`` prediction.
        target: ``(N, C, H, W)`` reference.
        extractor: maps ``(M, 3, H, W)`` ImageNet-standardised images to a list of feature maps.
        layer_weights: :math:`\lambda_l`, one per feature map; default all 1.
        criterion: ``"l1"`` or ``"mse"``.
        bands: band triplets (see :func:`gan_engine.nn.band_triplets`).
        input_range: ``(low, high)`` of the data, mapped to [0, 1] before standardisation.
        weight: optional per-pixel weight, area-averaged onto each feature map.
    """
    check_pair(pred, target, "perceptual loss")
    check_weight(weight, pred, "perceptual loss")
    triplets = band_triplets(bands, pred.shape[1])
    both = to_imagenet(select_triplets(torch.cat([pred, target]), triplets), input_range)
    feats = extractor(both)
    lambdas = list(layer_weights) if layer_weights is not None else [1.0] * len(feats)
    if len(lambdas) != len(feats):
        raise ValueError(f"perceptual loss has {len(feats)} feature layers but {len(lambdas)} layer_weights")
    w = None if weight is None else weight.mean(dim=1, keepdim=True).repeat(len(triplets), 1, 1, 1)
    n = pred.shape[0]
    total = pred.new_zeros(())
    for lam, f in zip(lambdas, feats):
        # select_triplets stacks [pred; target] per triplet: rows t·2N .. t·2N+N are pred.
        f = f.view(len(triplets), 2, n, *f.shape[1:])
        fw = None if w is None else resize_weight(w, f.shape[-2:]).view(len(triplets), n, 1, *f.shape[-2:])
        total = total + lam * weighted_mean(_CRITERIA[criterion](f[:, 0], f[:, 1]), fw)
    return total


@losses.register("perceptual")
class PerceptualLoss(ContentLoss):
    """VGG perceptual loss with ImageNet-standardised input and deterministic band selection.

    See :func:`perceptual_loss` for the maths. The VGG weights are read from ``weights_path``
    or the torch hub cache (``vgg19-dcbb9e9d.pth`` / ``vgg16-397923af.pth``); a clear
    :class:`~gan_engine.nn.WeightsNotFoundError` says where to put them when they are
    missing. The network is frozen and kept out of the state dict and the parameters.

    Args:
        layers: VGG layers compared (``"conv5_4"``, before the activation, as in ESRGAN;
            SRGAN used ``"relu5_4"``).
        layer_weights: weight of each layer; default 1 each.
        criterion: ``"l1"`` or ``"mse"`` distance between feature maps.
        bands: ``None`` (automatic), one triplet ``[r, g, b]`` or a list of triplets whose
            losses are averaged; see :func:`gan_engine.nn.band_triplets`.
        input_range: ``(low, high)`` of the normalised data (``[-1, 1]`` after ``signed``).
        arch: ``"vgg19"`` or ``"vgg16"``.
        weights_path: explicit weights file; default the torch hub cache.

    Example:
        >>> loss = PerceptualLoss(layers=["relu2_2", "relu3_4"], bands=[[3, 2, 1], [7, 3, 2]])  # doctest: +SKIP
    """

    def __init__(self, layers: Sequence[str] = ("conv5_4",), layer_weights: Sequence[float] | None = None,
                 criterion: Literal["l1", "mse"] = "l1", bands: BandSpec = None,
                 input_range: Sequence[float] = (0.0, 1.0), arch: Literal["vgg19", "vgg16"] = "vgg19",
                 weights_path: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        if criterion not in _CRITERIA:
            raise ValueError(f"perceptual criterion must be one of {', '.join(_CRITERIA)}, got {criterion!r}")
        if layer_weights is not None and len(layer_weights) != len(layers):
            raise ValueError(f"give one layer weight per layer: {len(layers)} layers, {len(layer_weights)} weights")
        extractor = VGGFeatures(layers, arch)
        spec = VGG19 if arch == "vgg19" else VGG16
        path = resolve_weights(spec, weights_path, user="loss 'perceptual'")
        load_into(extractor.features, path, prefix="features.", strict_keys=set(extractor.features.state_dict()))
        self.extractor = FrozenNet(extractor)
        self.layer_weights = None if layer_weights is None else [float(v) for v in layer_weights]
        self.criterion, self.bands, self.input_range = criterion, bands, tuple(input_range)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return perceptual_loss(pred, target, self.extractor, layer_weights=self.layer_weights,
                               criterion=self.criterion, bands=self.bands, input_range=self.input_range,
                               weight=weight)
