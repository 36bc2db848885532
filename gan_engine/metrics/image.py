"""PSNR, SSIM and the spectral angle as pure tensor functions."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure

from gan_engine.errors import ShapeError

__all__ = ["psnr", "spectral_angle", "ssim"]


def _check_pair(pred: Tensor, target: Tensor, name: str) -> None:
    if pred.shape != target.shape or pred.ndim != 4:
        raise ShapeError(f"{name} expects two (N, C, H, W) tensors of the same shape, "
                         f"got {tuple(pred.shape)} and {tuple(target.shape)}")


def psnr(pred: Tensor, target: Tensor, data_range: float, reduction: str = "mean") -> Tensor:
    r"""Peak signal-to-noise ratio in dB, per image then averaged over the batch.

    .. math:: \mathrm{PSNR} = 10 \log_{10} \frac{R^2}{\mathrm{MSE}(\hat y, y)}

    Args:
        pred: ``(N, C, H, W)`` prediction.
        target: ``(N, C, H, W)`` reference.
        data_range: ``R``, the span of valid values (1.0 for [0, 1] data).
        reduction: ``"mean"`` over the batch, or ``"none"`` for one value per image.
    """
    _check_pair(pred, target, "psnr")
    mse = (pred.float() - target.float()).pow(2).flatten(1).mean(dim=1).clamp_min(1e-12)
    values = 10.0 * torch.log10(data_range**2 / mse)
    return values.mean() if reduction == "mean" else values


def ssim(pred: Tensor, target: Tensor, data_range: float) -> Tensor:
    """Structural similarity (Wang et al., 2004) with an 11×11 Gaussian window, averaged over bands."""
    _check_pair(pred, target, "ssim")
    out = structural_similarity_index_measure(pred.float(), target.float(), data_range=data_range)
    return out if isinstance(out, Tensor) else out[0]


def spectral_angle(pred: Tensor, target: Tensor, eps: float = 1e-8, reduction: str = "mean") -> Tensor:
    r"""Spectral angle in radians between the band vectors of each pixel.

    .. math:: \mathrm{SAM}(p) = \arccos \frac{\langle \hat y_p, y_p \rangle}{\|\hat y_p\| \|y_p\|}
              = 2 \operatorname{atan2}\big(\|u - v\|, \|u + v\|\big),
              \quad u = \frac{\hat y_p}{\|\hat y_p\|},\ v = \frac{y_p}{\|y_p\|}

    The second (Kahan's) form is used: it is exact near 0 and π, where the arccosine
    loses all precision, and its gradient stays finite. Identical spectra give exactly 0,
    orthogonal spectra :math:`\pi/2`; the angle does not change when a spectrum is scaled
    by a positive factor. A zero spectrum (norm below ``eps``) is at :math:`\pi/2` from
    everything.

    Args:
        pred: ``(N, C, H, W)`` prediction.
        target: ``(N, C, H, W)`` reference.
        eps: smallest norm a spectrum is divided by.
        reduction: ``"mean"`` over pixels and images, or ``"none"`` for the ``(N, H, W)`` angle map.
    """
    _check_pair(pred, target, "spectral_angle")
    u = pred / pred.norm(dim=1, keepdim=True).clamp_min(eps)
    v = target / target.norm(dim=1, keepdim=True).clamp_min(eps)
    angle = 2.0 * torch.atan2((u - v).norm(dim=1), (u + v).norm(dim=1))
    return angle.mean() if reduction == "mean" else angle
