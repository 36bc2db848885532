r"""Distances between sets of images that need no pretrained weights.

The sliced Wasserstein distance between local patches (Rabin et al., 2011; used as a GAN
metric by Karras et al., 2018) compares the *distributions* of small patches of real and
generated images, at several scales, for any band count. It needs no network, so it works
offline and for multispectral data where Inception features mean little. Lower is better;
two samples of the same distribution give a small value (the sampling noise of the patches).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_engine.errors import ShapeError

__all__ = ["sliced_wasserstein"]


def _patches(x: Tensor, size: int, count: int, generator: torch.Generator) -> Tensor:
    """``count`` random ``size``×``size`` patches per image, flattened: ``(N·count, C·size²)``."""
    n, c, h, w = x.shape
    top = torch.randint(0, h - size + 1, (n, count), generator=generator).to(x.device)
    left = torch.randint(0, w - size + 1, (n, count), generator=generator).to(x.device)
    offsets = torch.arange(size, device=x.device)
    rows = (top[..., None] + offsets)[..., :, None].expand(n, count, size, size)
    cols = (left[..., None] + offsets)[..., None, :].expand(n, count, size, size)
    flat = (rows * w + cols).reshape(n, 1, -1).expand(n, c, -1)
    picked = x.reshape(n, c, h * w).gather(2, flat).reshape(n, c, count, size * size)
    return picked.permute(0, 2, 1, 3).reshape(n * count, c * size * size)


def sliced_wasserstein(real: Tensor, fake: Tensor, levels: int = 3, patch_size: int = 7, patches: int = 64,
                       projections: int = 128, seed: int = 0) -> Tensor:
    r"""Sliced Wasserstein distance between patch distributions, averaged over pyramid levels.

    At each level of an image pyramid (the images, then repeatedly halved by 2×2 averaging), ``patches``
    random patches per image give descriptor sets :math:`P` (real) and :math:`Q` (fake),
    both standardised with the real set's per-band mean and deviation. With random unit
    directions :math:`\theta_k`,

    .. math:: \mathrm{SWD}(P, Q) = \frac{1}{K} \sum_{k=1}^{K} \frac{1}{M} \sum_{i=1}^{M}
              \big| \operatorname{sort}(P\theta_k)_i - \operatorname{sort}(Q\theta_k)_i \big|

    Args:
        real: ``(N, C, H, W)`` real images.
        fake: ``(N, C, H, W)`` generated images (same shape).
        levels: pyramid levels (each halves the size); levels smaller than a patch are skipped.
        patch_size: side of the patches.
        patches: patches drawn per image and level.
        projections: random directions :math:`K`.
        seed: seed of the patch positions and directions (fixed: comparable across calls).

    Returns:
        A scalar tensor on the images' device.
    """
    if real.shape != fake.shape or real.ndim != 4:
        raise ShapeError(f"sliced_wasserstein expects two (N, C, H, W) tensors of the same shape, "
                         f"got {tuple(real.shape)} and {tuple(fake.shape)}")
    g = torch.Generator().manual_seed(seed)
    real, fake = real.float(), fake.float()
    distances = []
    for level in range(levels):
        if min(real.shape[-2:]) < patch_size:
            break
        p, q = _patches(real, patch_size, patches, g), _patches(fake, patch_size, patches, g)
        c = real.shape[1]
        mean = p.view(-1, c, patch_size**2).mean(dim=(0, 2)).repeat_interleave(patch_size**2)
        std = p.view(-1, c, patch_size**2).std(dim=(0, 2)).clamp_min(1e-6).repeat_interleave(patch_size**2)
        p, q = (p - mean) / std, (q - mean) / std
        directions = F.normalize(torch.randn(p.shape[1], projections, generator=g), dim=0).to(p.device)
        diff = torch.sort(p @ directions, dim=0).values - torch.sort(q @ directions, dim=0).values
        distances.append(diff.abs().mean())
        if level + 1 < levels:
            real, fake = F.avg_pool2d(real, 2), F.avg_pool2d(fake, 2)
    if not distances:
        raise ShapeError(f"sliced_wasserstein needs images of at least {patch_size}×{patch_size}, "
                         f"got {tuple(real.shape[-2:])}")
    return torch.stack(distances).mean()
