"""JPEG compression artefacts for any band count, through kornia's differentiable codec.

Three-band data goes through the codec as RGB (colour conversion, 4:2:0 chroma
subsampling, quantisation). Any other band count is compressed band by band as greyscale
JPEG: each band becomes the luma plane of an image whose chroma is flat, which the codec
keeps exactly, so only the luma quantisation acts. That is how single-band JPEG works, and
for multispectral stacks it stands in for a per-band transform codec.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["jpeg"]


def jpeg(x: Tensor, quality: Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """Compress and decompress ``(N, C, H, W)`` images at per-sample ``quality``.

    Args:
        x: images; values outside ``value_range`` are clipped (JPEG stores 8-bit levels).
        quality: ``(N,)`` JPEG quality in ``[1, 100]``.
        value_range: the data units that map to the codec's ``[0, 1]``.

    Returns:
        The decoded images, same shape and dtype, in data units. Differentiable in ``x``.
    """
    import kornia  # imported on first use: `import gan_engine` stays light

    lo, hi = value_range
    n, c, h, w = x.shape
    unit = ((x.float() - lo) / (hi - lo)).clamp(0, 1)
    q = quality.to(unit.device, torch.float32).reshape(n)
    if c == 3:
        out = kornia.enhance.jpeg_codec_differentiable(unit, q)
    else:
        planes = unit.reshape(n * c, 1, h, w)
        grey = torch.cat([planes, torch.full_like(planes, 0.5).expand(-1, 2, -1, -1)], dim=1)
        ycbcr_to_rgb = kornia.color.ycbcr_to_rgb(grey)
        decoded = kornia.enhance.jpeg_codec_differentiable(ycbcr_to_rgb, q.repeat_interleave(c))
        out = kornia.color.rgb_to_ycbcr(decoded)[:, :1].reshape(n, c, h, w)
    return (out * (hi - lo) + lo).to(x.dtype)
