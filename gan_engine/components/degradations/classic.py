r"""The classic degradation model of blind super-resolution, the default one:

.. math:: y = \big( (x \ast k_{\sigma,\theta}) \downarrow_s \big) + n, \qquad n \sim \mathcal N(0, \sigma_n^2)

with an (optionally anisotropic, rotated) Gaussian blur kernel :math:`k`, an antialiased
downsampling by the scale :math:`s` and additive Gaussian noise. With no blur and no noise
it is plain antialiased bicubic downsampling, the usual benchmark setting.

Random parameters are drawn per sample on the CPU, inside the data set (so validation
degradations are the same on every run and training ones follow the seed), and travel
with the batch; the convolution and resampling then run on the device, in the data
module's ``on_after_batch_transfer`` hook (:mod:`gan_engine.components.degradations.base`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_engine.components.degradations.base import Degradation
from gan_engine.components.degradations.kernels import anisotropic_kernels
from gan_engine.params import Fraction, NonNegativeFloat, PositiveInt
from gan_engine.registry import degradations

__all__ = ["ClassicDegradation", "degrade"]

Resample = Literal["bicubic", "bilinear", "area"]


def degrade(hr: Tensor, scale: int, kernels: Tensor | None = None, noise: Tensor | None = None,
            resample: Resample = "bicubic") -> Tensor:
    """Blur, downsample (antialiased) and add noise.

    Args:
        hr: ``(N, C, H, W)`` high-resolution images; ``H`` and ``W`` multiples of ``scale``.
        scale: downsampling factor.
        kernels: ``(N, k, k)`` or ``(1, k, k)`` blur kernels, or ``None`` for no extra blur.
        noise: ``(N, C, H/scale, W/scale)`` noise added after downsampling, or ``None``.
        resample: ``"bicubic"`` or ``"bilinear"`` (both antialiased) or ``"area"``.

    Returns:
        ``(N, C, H/scale, W/scale)`` low-resolution images.
    """
    x = hr
    if kernels is not None:
        import kornia  # imported on first use: `import gan_engine` stays light

        x = kornia.filters.filter2d(x, kernels.to(x.dtype), border_type="reflect")
    if scale > 1:
        size = (hr.shape[-2] // scale, hr.shape[-1] // scale)
        if resample == "area":
            x = F.interpolate(x, size=size, mode="area")
        else:
            x = F.interpolate(x, size=size, mode=resample, antialias=True, align_corners=False)
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


@degradations.register("classic")
class ClassicDegradation(Degradation):
    """Random Gaussian blur, antialiased downsampling and Gaussian noise; the default model.

    With no blur and no noise it is plain antialiased downsampling, the usual benchmark
    setting. Parameters are drawn per sample.

    Args:
        scale: downsampling factor (``Task.scale``).
        resample: ``"bicubic"``, ``"bilinear"`` (both antialiased) or ``"area"``.
        blur_sigma: range ``[lo, hi]`` of the blur's standard deviation, in HR pixels;
            ``[0, 0]`` disables the extra blur (the resampling still antialiases).
        anisotropic: draw the two axes' sigmas independently and rotate the kernel.
        blur_prob: probability that a sample is blurred at all.
        noise_std: range ``[lo, hi]`` of the Gaussian noise's standard deviation, in data
            units; ``[0, 0]`` disables noise.
        noise_prob: probability that a sample gets noise.
        clamp: ``[lo, hi]`` to clip the LR values to, or ``None``.
    """

    def __init__(self, scale: PositiveInt, resample: Resample = "bicubic",
                 blur_sigma: Sequence[NonNegativeFloat] = (0.0, 0.0), anisotropic: bool = False,
                 blur_prob: Fraction = 1.0, noise_std: Sequence[NonNegativeFloat] = (0.0, 0.0),
                 noise_prob: Fraction = 1.0, clamp: Sequence[float] | None = None) -> None:
        super().__init__(scale)
        for name, rng in (("blur_sigma", blur_sigma), ("noise_std", noise_std)):
            if len(rng) != 2 or not 0 <= rng[0] <= rng[1]:
                raise ValueError(f"degradation {name} must be a range [lo, hi] with 0 ≤ lo ≤ hi, got {list(rng)}")
        if resample not in ("bicubic", "bilinear", "area"):
            raise ValueError(f"degradation resample must be 'bicubic', 'bilinear' or 'area', got {resample!r}")
        self.resample, self.anisotropic = resample, anisotropic
        self.blur_sigma, self.noise_std = (float(blur_sigma[0]), float(blur_sigma[1])), (
            float(noise_std[0]), float(noise_std[1]))
        self.blur_prob, self.noise_prob = blur_prob, noise_prob
        self.clamp = None if clamp is None else (float(clamp[0]), float(clamp[1]))
        self.kernel_size = max(3, 2 * math.ceil(3 * self.blur_sigma[1]) + 1)

    @property
    def blurs(self) -> bool:
        return self.blur_sigma[1] > 0 and self.blur_prob > 0

    @property
    def adds_noise(self) -> bool:
        return self.noise_std[1] > 0 and self.noise_prob > 0

    def _draw(self, lo_hi: tuple[float, float], prob: float, n: int, rng: torch.Generator | None,
              device: torch.device | None) -> Tensor:
        u = torch.rand(2, n, generator=rng, device=device)
        return (lo_hi[0] + (lo_hi[1] - lo_hi[0]) * u[0]) * (u[1] < prob)

    def sample_batch(self, n: int, bands: int, height: int, width: int, rng: torch.Generator | None = None,
                     device: torch.device | None = None) -> dict[str, Tensor]:
        """Random parameters for ``n`` HR samples of shape ``(bands, height, width)``."""
        params: dict[str, Tensor] = {}
        if self.blurs:
            sx = self._draw(self.blur_sigma, self.blur_prob, n, rng, device)
            if self.anisotropic:
                sy = torch.where(sx > 0, self._draw(self.blur_sigma, 1.0, n, rng, device), sx)
                theta = torch.rand(n, generator=rng, device=device) * math.pi
            else:
                sy, theta = sx, torch.zeros(n, device=device)
            params["sigma"], params["theta"] = torch.stack([sx, sy], dim=1), theta
        if self.adds_noise:
            std = self._draw(self.noise_std, self.noise_prob, n, rng, device)
            lr_shape = (n, bands, height // self.scale, width // self.scale)
            params["noise"] = torch.randn(lr_shape, generator=rng, device=device) * std[:, None, None, None]
        return params

    def degrade(self, hr: Tensor, params: Mapping[str, Any]) -> Tensor:
        kernels = None
        if "sigma" in params:
            kernels = anisotropic_kernels(params["sigma"].float(), params["theta"].float(), self.kernel_size)
        lr = degrade(hr, self.scale, kernels, params.get("noise"), self.resample)
        return lr if self.clamp is None else lr.clamp(*self.clamp)
