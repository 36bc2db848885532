"""Image-quality metrics, computed on the device and reduced there (no host syncs).

Thin, explicit wrappers: the data range is always a required argument, because a default
of 1.0 on reflectance data that rarely exceeds 0.3 silently inflates PSNR.

Functions (``gan_engine.metrics.image``): :func:`psnr`, :func:`psnr_per_band`,
:func:`ssim`, :func:`spectral_angle`, :func:`ergas`. Accumulating metrics with pretrained
networks (``gan_engine.metrics.perceptual``, imported on first use): ``LPIPSMetric``,
``FID``, ``KID``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from gan_engine.metrics.image import ergas, psnr, psnr_per_band, spectral_angle, ssim

if TYPE_CHECKING:
    from gan_engine.metrics.perceptual import FID, KID, InceptionFeatures, LPIPSMetric

_LAZY = {"FID", "KID", "InceptionFeatures", "LPIPSMetric"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module("gan_engine.metrics.perceptual"), name)
    raise AttributeError(f"module 'gan_engine.metrics' has no attribute {name!r}")


__all__ = ["FID", "KID", "InceptionFeatures", "LPIPSMetric", "ergas", "psnr", "psnr_per_band", "spectral_angle",
           "ssim"]
