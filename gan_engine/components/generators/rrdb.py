"""ESRGAN's RRDBNet (Wang et al., 2018): residual-in-residual dense blocks, no batch norm."""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import Tensor, nn

from gan_engine.components.generators.base import TrunkGenerator
from gan_engine.components.generators.srresnet import upsampler_receptive_field
from gan_engine.nn import PixelShuffleUpsampler
from gan_engine.params import PositiveFloat, PositiveInt
from gan_engine.registry import generators

__all__ = ["RRDBNet"]


class _DenseBlock(nn.Module):
    """Five densely connected 3×3 convolutions with a scaled residual connection."""

    def __init__(self, channels: int, growth: int, res_scale: float) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(channels + i * growth, growth if i < 4 else channels, 3, padding=1) for i in range(5))
        self.act = nn.LeakyReLU(0.2)
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for conv in self.convs[:-1]:
            feats.append(self.act(conv(torch.cat(feats, dim=1))))
        out: Tensor = x + self.res_scale * self.convs[-1](torch.cat(feats, dim=1))
        return out


class _RRDB(nn.Module):
    """Three dense blocks wrapped in another scaled residual connection."""

    def __init__(self, channels: int, growth: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(*(_DenseBlock(channels, growth, res_scale) for _ in range(3)))
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = x + self.res_scale * self.body(x)
        return out


def _scaled_kaiming_(module: nn.Module, factor: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
            m.weight.data.mul_(factor)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@generators.register("rrdb")
class RRDBNet(TrunkGenerator):
    """ESRGAN generator: ``n_blocks`` residual-in-residual dense blocks, any band count.

    Each RRDB holds three dense blocks of five 3×3 convolutions; convolution ``i`` of a
    dense block sees the block input and the ``growth_channels`` outputs of every earlier
    one. Dense blocks and RRDBs add their output to their input scaled by ``res_scale``
    (residual scaling, which keeps very deep stacks stable). A long skip spans the trunk;
    ×2 sub-pixel stages (ICNR-initialised) upsample; two 3×3 convolutions finish at the
    output size.

    Args:
        in_channels: bands of the input image.
        out_channels: bands of the output; default ``in_channels``.
        scale: upsampling factor (1, 2, 4 or 8).
        n_channels: trunk width.
        n_blocks: number of RRDBs (23 in ESRGAN).
        growth_channels: channels each dense convolution adds.
        res_scale: residual scaling of dense blocks and RRDBs.
        init_scale: the trunk's Kaiming initialisation is multiplied by this (ESRGAN: 0.1).

    Shape:
        ``(N, in_channels, H, W)`` → ``(N, out_channels, H·scale, W·scale)``.

    Example:
        >>> import torch
        >>> g = RRDBNet(in_channels=6, scale=4, n_channels=8, n_blocks=1, growth_channels=4)
        >>> g(torch.rand(1, 6, 8, 8)).shape
        torch.Size([1, 6, 32, 32])
    """

    def __init__(self, in_channels: PositiveInt = 3, out_channels: PositiveInt | None = None, scale: PositiveInt = 4,
                 n_channels: PositiveInt = 64, n_blocks: PositiveInt = 23, growth_channels: PositiveInt = 32,
                 res_scale: PositiveFloat = 0.2, init_scale: PositiveFloat = 0.1) -> None:
        super().__init__()
        self._set_meta(in_channels, out_channels, scale)
        self.head = nn.Conv2d(in_channels, n_channels, 3, padding=1)
        self.body = nn.Sequential(*(_RRDB(n_channels, growth_channels, res_scale) for _ in range(n_blocks)),
                                  nn.Conv2d(n_channels, n_channels, 3, padding=1))
        _scaled_kaiming_(self.body, init_scale)
        self.upsample = PixelShuffleUpsampler(n_channels, scale, partial(nn.LeakyReLU, 0.2))
        self.tail = nn.Sequential(nn.Conv2d(n_channels, n_channels, 3, padding=1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(n_channels, self.out_channels, 3, padding=1))
        # head, 3 x 5 convs per RRDB, the trunk conv, the upsampler, two convs at output size.
        self.receptive_field = math.ceil(1 + 2 + 30 * n_blocks + 2 + upsampler_receptive_field(scale) + 4 / scale)
