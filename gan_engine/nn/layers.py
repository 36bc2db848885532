"""Building blocks shared by generators and discriminators."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["PixelShuffleUpsampler", "icnr_"]


def icnr_(weight: Tensor, factor: int) -> Tensor:
    """Initialise a sub-pixel convolution so its output starts free of checkerboard artefacts.

    ICNR (Aitken et al., 2017) initialises the ``factor²`` sub-kernels of each output channel
    identically, which makes the pixel shuffle start as nearest-neighbour upsampling.

    Args:
        weight: ``(C·factor², C_in, k, k)`` convolution weight, modified in place.
        factor: the pixel-shuffle factor.
    """
    out_ch, in_ch, kh, kw = weight.shape
    if out_ch % (factor**2):
        raise ValueError(f"ICNR needs out_channels divisible by factor**2={factor**2}, got {out_ch}")
    sub = torch.empty(out_ch // factor**2, in_ch, kh, kw, dtype=weight.dtype, device=weight.device)
    nn.init.kaiming_normal_(sub, nonlinearity="relu")
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(factor**2, dim=0))
    return weight


class PixelShuffleUpsampler(nn.Sequential):
    """Upsample features by ``scale`` (1, 2, 4 or 8, or 3) with ×2 (or ×3) sub-pixel stages."""

    def __init__(self, channels: int, scale: int, activation: type[nn.Module] = nn.PReLU) -> None:
        stages: list[nn.Module] = []
        if scale in (2, 4, 8):
            factors = [2] * int(math.log2(scale))
        elif scale in (1, 3):
            factors = [scale] if scale == 3 else []
        else:
            raise ValueError(f"scale must be 1, 2, 3, 4 or 8, got {scale}")
        for f in factors:
            conv = nn.Conv2d(channels, channels * f * f, 3, padding=1)
            icnr_(conv.weight, f)
            assert conv.bias is not None
            nn.init.zeros_(conv.bias)
            stages += [conv, nn.PixelShuffle(f), activation()]
        super().__init__(*stages)
