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

    Identical spectra give 0, orthogonal spectra :math:`\pi/2`; the angle does not change
    when a spectrum is scaled. Args as in :func:`psnr`; ``reduction="none"`` returns the
    ``(N, H, W)`` angle map.
    """
    _check_pair(pred, target, "spectral_angle")
    dot = (pred * target).sum(dim=1)
    norms = pred.norm(dim=1) * target.norm(dim=1)
    cos = (dot / norms.clamp_min(eps)).clamp(-1 + 1e-7, 1 - 1e-7)
    angle = torch.acos(cos)
    return angle.mean() if reduction == "mean" else angle
