r"""Blur kernels of the degradation models, batched: one kernel per sample.

Every kernel lives on a common odd grid of side ``size`` (the largest kernel a model
draws); a smaller kernel is the same function cut to its own window and zero elsewhere,
so a batch with kernels of different sizes is one convolution.

With :math:`p` a grid offset, :math:`\Sigma = R_\theta \operatorname{diag}(\sigma_x^2, \sigma_y^2) R_\theta^\top`
and :math:`q = p^\top \Sigma^{-1} p`, the families are

- Gaussian: :math:`\exp(-q/2)`;
- generalised Gaussian: :math:`\exp(-q^\beta/2)` (:math:`\beta < 1` heavy tails, :math:`\beta > 1` flat top);
- plateau: :math:`1 / (1 + q^\beta)`;
- sinc (circular low-pass of cut-off :math:`\omega_c`):
  :math:`\omega_c J_1(\omega_c \lVert p\rVert) / (2\pi \lVert p\rVert)`, which rings like an over-sharpened
  or band-limited camera pipeline.

Each kernel is normalised to sum to one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["KERNEL_FAMILIES", "anisotropic_kernels", "identity_kernels", "random_kernels", "sinc_kernels"]

#: Families :func:`random_kernels` draws from, in the order of its ``probabilities``.
KERNEL_FAMILIES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


def _grid(size: int, device: torch.device | None, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    half = size // 2
    r = torch.arange(-half, half + 1, device=device, dtype=dtype)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    return xx, yy


def _window(extent: Tensor | None, size: int, xx: Tensor, yy: Tensor) -> Tensor:
    """1 inside each sample's own ``extent × extent`` window (odd sides), 0 outside."""
    if extent is None:
        return torch.ones_like(xx)[None]
    half = (extent // 2).to(xx.dtype)[:, None, None]
    return ((xx.abs() <= half) & (yy.abs() <= half)).to(xx.dtype)


def _normalise(k: Tensor) -> Tensor:
    return k / k.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)


def anisotropic_kernels(sigma: Tensor, theta: Tensor, size: int, beta: Tensor | None = None,
                        family: Tensor | None = None, extent: Tensor | None = None) -> Tensor:
    """Gaussian, generalised Gaussian or plateau kernels, rotated, one per sample.

    Args:
        sigma: ``(N, 2)`` standard deviations along the kernel's own axes, in pixels.
        theta: ``(N,)`` rotation of the first axis, in radians.
        size: odd side of the common grid.
        beta: ``(N,)`` shape exponent of the generalised and plateau families.
        family: ``(N,)`` 0 Gaussian, 1 generalised Gaussian, 2 plateau; default: all Gaussian.
        extent: ``(N,)`` odd side of each kernel's own window (``≤ size``); default: the grid.

    Returns:
        ``(N, size, size)`` kernels summing to 1.
    """
    xx, yy = _grid(size, sigma.device, sigma.dtype)
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    u, v = xx * cos + yy * sin, -xx * sin + yy * cos
    sx, sy = sigma[:, 0, None, None].clamp_min(0.05), sigma[:, 1, None, None].clamp_min(0.05)
    q = (u / sx) ** 2 + (v / sy) ** 2
    k = torch.exp(-0.5 * q)
    if family is not None and beta is not None:
        b = beta[:, None, None]
        qb = q.clamp_min(0) ** b
        fam = family[:, None, None]
        k = torch.where(fam == 1, torch.exp(-0.5 * qb), torch.where(fam == 2, 1.0 / (1.0 + qb), k))
    return _normalise(k * _window(extent, size, xx, yy))


def sinc_kernels(omega: Tensor, size: int, extent: Tensor | None = None) -> Tensor:
    """Circular low-pass (2-D sinc) kernels of cut-off ``omega`` (radians per pixel), one per sample.

    Args:
        omega: ``(N,)`` cut-off frequencies in ``(0, π]``.
        size: odd side of the common grid.
        extent: ``(N,)`` odd side of each kernel's own window; default: the grid.
    """
    xx, yy = _grid(size, omega.device, omega.dtype)
    r = torch.sqrt(xx ** 2 + yy ** 2)[None]
    w = omega[:, None, None]
    centre = w ** 2 / (4 * math.pi)
    safe = torch.where(r > 0, r, torch.ones_like(r))
    k = torch.where(r > 0, w * torch.special.bessel_j1(w * safe) / (2 * math.pi * safe), centre)
    return _normalise(k * _window(extent, size, xx, yy))


def identity_kernels(n: int, size: int, device: torch.device | None = None,
                     dtype: torch.dtype = torch.float32) -> Tensor:
    """``(n, size, size)`` delta kernels: a convolution with them changes nothing."""
    k = torch.zeros(n, size, size, device=device, dtype=dtype)
    k[:, size // 2, size // 2] = 1.0
    return k


def _uniform(lo: float, hi: float, n: int, rng: torch.Generator | None, device: torch.device | None) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=rng, device=device)


def random_kernels(n: int, size: int, *, sizes: Sequence[int], probabilities: Sequence[float],
                   sigma: Sequence[float], beta_generalized: Sequence[float], beta_plateau: Sequence[float],
                   sinc_prob: float, rng: torch.Generator | None = None,
                   device: torch.device | None = None) -> Tensor:
    """Draw ``n`` blur kernels the way the second-order degradation model does.

    With probability ``sinc_prob`` a sinc kernel (cut-off uniform in ``[π/3, π]`` for
    kernels smaller than 13 pixels, ``[π/5, π]`` otherwise); else one of
    :data:`KERNEL_FAMILIES`, chosen with ``probabilities``, with sigmas uniform in
    ``sigma``, a uniform rotation, and the shape exponent drawn half the time below 1 and
    half above (generalised Gaussian) or uniform in ``beta_plateau`` (plateau). The window
    side is drawn from ``sizes``.

    Returns:
        ``(n, size, size)`` kernels summing to 1.
    """
    choice = torch.tensor(list(sizes), device=device)
    extent = choice[torch.randint(len(sizes), (n,), generator=rng, device=device)]
    probs = torch.tensor(list(probabilities), dtype=torch.float32, device=device)
    kind = torch.multinomial(probs, n, replacement=True, generator=rng)
    aniso = (kind % 2) == 1
    sx = _uniform(sigma[0], sigma[1], n, rng, device)
    sy = torch.where(aniso, _uniform(sigma[0], sigma[1], n, rng, device), sx)
    theta = torch.where(aniso, _uniform(-math.pi, math.pi, n, rng, device), torch.zeros(n, device=device))
    lo_g, hi_g = beta_generalized
    below = torch.rand(n, generator=rng, device=device) < 0.5
    beta_g = torch.where(below, _uniform(lo_g, min(1.0, hi_g), n, rng, device),
                         _uniform(max(1.0, lo_g), hi_g, n, rng, device))
    beta_p = _uniform(beta_plateau[0], beta_plateau[1], n, rng, device)
    family = kind // 2  # 0 Gaussian, 1 generalised, 2 plateau
    beta = torch.where(family == 2, beta_p, beta_g)
    blur = anisotropic_kernels(torch.stack([sx, sy], 1), theta, size, beta, family, extent)
    omega = torch.where(extent < 13, _uniform(math.pi / 3, math.pi, n, rng, device),
                        _uniform(math.pi / 5, math.pi, n, rng, device))
    sinc = sinc_kernels(omega, size, extent)
    use_sinc = (torch.rand(n, generator=rng, device=device) < sinc_prob)[:, None, None]
    return torch.where(use_sinc, sinc, blur)
