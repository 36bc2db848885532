"""Image-quality metrics, computed on the device and reduced there (no host syncs).

Thin, explicit wrappers: the data range is always a required argument, because a default
of 1.0 on reflectance data that rarely exceeds 0.3 silently inflates PSNR.
"""

from gan_engine.metrics.image import psnr, spectral_angle, ssim

__all__ = ["psnr", "spectral_angle", "ssim"]
