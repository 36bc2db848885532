r"""Pixel content losses: L1, MSE, Charbonnier and total variation.

Each is a pure function and a registered module (``kind = "content"``) that calls it. All
accept the per-pixel ``weight`` described in :mod:`gan_engine.components.losses.base`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_engine.components.losses.base import ContentLoss, check_pair, check_weight, weighted_mean
from gan_engine.registry import losses

__all__ = [
    "CharbonnierLoss",
    "L1Loss",
    "MSELoss",
    "TotalVariationLoss",
    "charbonnier_loss",
    "l1_loss",
    "mse_loss",
    "tv_loss",
]


def l1_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    r"""Mean absolute error :math:`\frac{1}{|\Omega|}\sum_{\Omega} |\hat y - y|` over images, bands and pixels.

    Args:
        pred: ``(N, C, H, W)`` prediction.
        target: ``(N, C, H, W)`` reference.
        weight: optional ``(N, 1, H, W)`` or ``(N, C, H, W)`` per-pixel weight (weighted mean).
    """
    check_pair(pred, target, "l1 loss")
    check_weight(weight, pred, "l1 loss")
    return weighted_mean((pred - target).abs(), weight)


def mse_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    r"""Mean squared error :math:`\frac{1}{|\Omega|}\sum_{\Omega} (\hat y - y)^2`. Args as :func:`l1_loss`."""
    check_pair(pred, target, "mse loss")
    check_weight(weight, pred, "mse loss")
    return weighted_mean((pred - target).square(), weight)


def charbonnier_loss(pred: Tensor, target: Tensor, eps: float = 1e-3, weight: Tensor | None = None) -> Tensor:
    r"""Charbonnier (smooth L1) loss :math:`\frac{1}{|\Omega|}\sum_{\Omega} \sqrt{(\hat y - y)^2 + \varepsilon^2}`.

    Behaves like L2 for errors below ``eps`` and like L1 above, so it is differentiable at 0
    and robust to outliers. Its minimum, at ``pred == target``, is ``eps``.

    Args:
        pred: ``(N, C, H, W)`` prediction.
        target: ``(N, C, H, W)`` reference.
        eps: :math:`\varepsilon`, in data units.
        weight: optional per-pixel weight (weighted mean).
    """
    check_pair(pred, target, "charbonnier loss")
    check_weight(weight, pred, "charbonnier loss")
    return weighted_mean(torch.sqrt((pred - target).square() + eps * eps), weight)


def tv_loss(pred: Tensor, weight: Tensor | None = None) -> Tensor:
    r"""Anisotropic total variation: the mean absolute difference between neighbouring pixels.

    .. math:: \mathrm{TV}(x) = \frac{1}{|\Omega_h|}\sum |x_{c,i,j+1} - x_{c,i,j}|
                             + \frac{1}{|\Omega_v|}\sum |x_{c,i+1,j} - x_{c,i,j}|

    A constant image has TV 0. With a ``weight``, each difference is weighted by the
    product of the weights of its two pixels (so a binary mask counts the differences
    inside it) and each direction is a weighted mean.

    Args:
        pred: ``(N, C, H, W)`` image, ``H, W ≥ 2``.
        weight: optional ``(N, 1, H, W)`` or ``(N, C, H, W)`` per-pixel weight.
    """
    if pred.ndim != 4 or min(pred.shape[-2:]) < 2:
        raise ValueError(f"tv loss expects an (N, C, H, W) image with H, W ≥ 2, got {tuple(pred.shape)}")
    check_weight(weight, pred, "tv loss")
    dx = (pred[..., :, 1:] - pred[..., :, :-1]).abs()
    dy = (pred[..., 1:, :] - pred[..., :-1, :]).abs()
    wx = None if weight is None else weight[..., :, 1:] * weight[..., :, :-1]
    wy = None if weight is None else weight[..., 1:, :] * weight[..., :-1, :]
    return weighted_mean(dx, wx) + weighted_mean(dy, wy)


@losses.register("l1")
class L1Loss(ContentLoss):
    r"""Mean absolute error :math:`\frac{1}{N}\sum |\hat y - y|`; see :func:`l1_loss`."""

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return l1_loss(pred, target, weight)


@losses.register("mse")
class MSELoss(ContentLoss):
    r"""Mean squared error :math:`\frac{1}{N}\sum (\hat y - y)^2`; see :func:`mse_loss`."""

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return mse_loss(pred, target, weight)


@losses.register("charbonnier")
class CharbonnierLoss(ContentLoss):
    r"""Charbonnier loss :math:`\frac{1}{N}\sum \sqrt{(\hat y - y)^2 + \varepsilon^2}`; see :func:`charbonnier_loss`.

    Args:
        eps: :math:`\varepsilon`, in data units (1e-3 suits data in [0, 1]).
    """

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        if eps <= 0:
            raise ValueError(f"charbonnier eps must be positive, got {eps}")
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return charbonnier_loss(pred, target, self.eps, weight)


@losses.register("tv")
class TotalVariationLoss(ContentLoss):
    """Total-variation smoothness prior on the prediction; the target is ignored. See :func:`tv_loss`."""

    def forward(self, pred: Tensor, target: Tensor | None = None, weight: Tensor | None = None) -> Tensor:
        if target is not None:
            check_pair(pred, target, "tv loss")
        return tv_loss(pred, weight)
