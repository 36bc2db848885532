"""PSNR, SSIM, ERGAS and the spectral angle as pure tensor functions.

torchmetrics is imported on first use, so that ``import gan_engine`` stays light.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_engine.errors import ShapeError

__all__ = ["ergas", "psnr", "psnr_per_band", "spectral_angle", "ssim"]


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


def psnr_per_band(pred: Tensor, target: Tensor, data_range: float | Tensor) -> Tensor:
    r"""PSNR of every band, in dB, averaged over the batch: a ``(C,)`` tensor.

    .. math:: \mathrm{PSNR}_c = \frac{1}{N}\sum_n 10 \log_{10} \frac{R_c^2}{\mathrm{MSE}(\hat y_{n,c}, y_{n,c})}

    Args:
        pred: ``(N, C, H, W)`` prediction.
        target: ``(N, C, H, W)`` reference.
        data_range: ``R``: one span for every band, or a ``(C,)`` tensor of per-band spans.
    """
    _check_pair(pred, target, "psnr_per_band")
    mse = (pred.float() - target.float()).pow(2).flatten(2).mean(dim=2).clamp_min(1e-12)  # (N, C)
    r = data_range.to(mse) if isinstance(data_range, Tensor) else float(data_range)
    return (10.0 * torch.log10(r**2 / mse)).mean(dim=0)


def ergas(pred: Tensor, target: Tensor, scale: float, reduction: str = "mean") -> Tensor:
    r"""ERGAS (Wald, 2000), the relative dimensionless global error in synthesis; lower is better.

    .. math:: \mathrm{ERGAS} = \frac{100}{s}\sqrt{\frac{1}{C}\sum_c
              \left(\frac{\mathrm{RMSE}_c}{\mu_c}\right)^2}

    with :math:`s` the resolution ratio (the SR scale), :math:`\mu_c` the mean of band
    :math:`c` of the target. Computed per image by torchmetrics. Use it on physical,
    positive values (reflectance), not on zero-mean normalised data, where
    :math:`\mu_c \approx 0`.

    Args:
        pred: ``(N, C, H, W)`` prediction.
        target: ``(N, C, H, W)`` reference.
        scale: ratio between high and low resolution pixel sizes, e.g. 4.
        reduction: ``"mean"`` over the batch, or ``"none"`` for one value per image.
    """
    _check_pair(pred, target, "ergas")
    from torchmetrics.functional.image import error_relative_global_dimensionless_synthesis

    out = error_relative_global_dimensionless_synthesis(pred.float(), target.float(), ratio=scale,
                                                        reduction="none")
    return out.mean() if reduction == "mean" else out


def ssim(pred: Tensor, target: Tensor, data_range: float) -> Tensor:
    """Structural similarity (Wang et al., 2004) with an 11×11 Gaussian window, averaged over bands."""
    _check_pair(pred, target, "ssim")
    from torchmetrics.functional.image import structural_similarity_index_measure

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
