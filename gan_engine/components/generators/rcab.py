"""RCAN (Zhang et al., 2018): residual groups of residual channel-attention blocks."""

from __future__ import annotations

import math

from torch import Tensor, nn

from gan_engine.components.generators.base import TrunkGenerator
from gan_engine.components.generators.srresnet import upsampler_receptive_field
from gan_engine.nn import ChannelAttention, PixelShuffleUpsampler
from gan_engine.params import PositiveFloat, PositiveInt
from gan_engine.registry import generators

__all__ = ["RCAN"]


class _RCAB(nn.Module):
    """conv–ReLU–conv, channel attention, and a scaled residual connection."""

    def __init__(self, channels: int, reduction: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), ChannelAttention(channels, reduction),
        )
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = x + self.res_scale * self.body(x)
        return out


class _ResidualGroup(nn.Module):
    def __init__(self, channels: int, n_blocks: int, reduction: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(*(_RCAB(channels, reduction, res_scale) for _ in range(n_blocks)),
                                  nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = x + self.body(x)
        return out


@generators.register("rcab")
class RCAN(TrunkGenerator):
    """Residual channel-attention network for any band count.

    ``n_groups`` residual groups, each of ``n_blocks`` residual channel-attention blocks
    (RCAB: conv–ReLU–conv followed by squeeze-and-excitation that reweights channels) and a
    closing convolution, with a skip per group and a long skip over the trunk
    (residual-in-residual). ×2 sub-pixel stages (ICNR-initialised) upsample.

    Args:
        in_channels: bands of the input image.
        out_channels: bands of the output; default ``in_channels``.
        scale: upsampling factor (1, 2, 4 or 8).
        n_channels: feature width.
        n_groups: residual groups (10 in RCAN).
        n_blocks: RCABs per group (20 in RCAN).
        reduction: channel-attention bottleneck ratio.
        res_scale: scaling of each RCAB's residual.

    Shape:
        ``(N, in_channels, H, W)`` → ``(N, out_channels, H·scale, W·scale)``.

    Example:
        >>> import torch
        >>> g = RCAN(in_channels=13, scale=2, n_channels=16, n_groups=1, n_blocks=2)
        >>> g(torch.rand(1, 13, 8, 8)).shape
        torch.Size([1, 13, 16, 16])
    """

    def __init__(self, in_channels: PositiveInt = 3, out_channels: PositiveInt | None = None, scale: PositiveInt = 4,
                 n_channels: PositiveInt = 64, n_groups: PositiveInt = 10, n_blocks: PositiveInt = 20,
                 reduction: PositiveInt = 16, res_scale: PositiveFloat = 1.0) -> None:
        super().__init__()
        self._set_meta(in_channels, out_channels, scale)
        self.head = nn.Conv2d(in_channels, n_channels, 3, padding=1)
        self.body = nn.Sequential(*(_ResidualGroup(n_channels, n_blocks, reduction, res_scale)
                                    for _ in range(n_groups)),
                                  nn.Conv2d(n_channels, n_channels, 3, padding=1))
        self.upsample = PixelShuffleUpsampler(n_channels, scale, nn.Identity)
        self.tail = nn.Conv2d(n_channels, self.out_channels, 3, padding=1)
        convs = n_groups * (2 * n_blocks + 1)
        self.receptive_field = math.ceil(1 + 2 + 2 * convs + 2 + upsampler_receptive_field(scale) + 2 / scale)
