"""SRResNet (Ledig et al., 2017): residual blocks followed by sub-pixel upsampling."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from gan_engine.components.generators.base import TrunkGenerator
from gan_engine.nn import PixelShuffleUpsampler, upsampling_factors
from gan_engine.params import PositiveInt
from gan_engine.registry import generators

__all__ = ["SRResNet", "upsampler_receptive_field"]


def upsampler_receptive_field(scale: int, kernel: int = 3) -> float:
    """Context, in input pixels, added by the sub-pixel stages of ``scale`` (one conv per stage)."""
    total, res = 0.0, 1
    for f in upsampling_factors(scale):
        total += (kernel - 1) / res
        res *= f
    return total


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, batch_norm: bool) -> None:
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(channels)) if batch_norm else nn.Identity
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), norm(), nn.PReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), norm(),
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = x + self.body(x)
        return out


@generators.register("srresnet")
class SRResNet(TrunkGenerator):
    """SRResNet super-resolution generator for any band count.

    A 9×9 head, ``n_blocks`` residual blocks (conv–PReLU–conv, optionally with batch norm),
    a long skip, ×2 sub-pixel stages (ICNR-initialised) and a 9×9 tail. No output
    activation: the output lives in the normaliser's range.

    Args:
        in_channels: bands of the input image.
        out_channels: bands of the output; default ``in_channels``.
        scale: upsampling factor (1, 2, 4 or 8).
        n_channels: feature width.
        n_blocks: number of residual blocks.
        batch_norm: use batch normalisation in the residual blocks (the original design;
            off by default, as in EDSR, because it harms colour fidelity at small batches).
        image_skip: add the input, upsampled bicubically, to the output, so the network only
            learns the detail bicubic interpolation misses (global residual learning, as in
            VDSR). Training starts at the bicubic baseline and converges several times faster.
            Needs ``out_channels == in_channels``.

    Shape:
        ``(N, in_channels, H, W)`` → ``(N, out_channels, H·scale, W·scale)``.

    Example:
        >>> import torch
        >>> g = SRResNet(in_channels=4, scale=2, n_channels=8, n_blocks=1)
        >>> g(torch.rand(1, 4, 8, 8)).shape
        torch.Size([1, 4, 16, 16])
    """

    def __init__(self, in_channels: PositiveInt = 3, out_channels: PositiveInt | None = None, scale: PositiveInt = 4,
                 n_channels: PositiveInt = 64, n_blocks: PositiveInt = 16, batch_norm: bool = False,
                 image_skip: bool = False) -> None:
        super().__init__()
        self._set_meta(in_channels, out_channels, scale)
        if image_skip and self.out_channels != in_channels:
            raise ValueError(f"image_skip adds the input to the output, so it needs out_channels == in_channels; "
                             f"got {in_channels} and {self.out_channels}")
        self.image_skip = image_skip
        self.head = nn.Sequential(nn.Conv2d(in_channels, n_channels, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*(_ResidualBlock(n_channels, batch_norm) for _ in range(n_blocks)),
                                  nn.Conv2d(n_channels, n_channels, 3, padding=1))
        self.upsample = PixelShuffleUpsampler(n_channels, scale)
        self.tail = nn.Conv2d(n_channels, self.out_channels, 9, padding=4)
        # 9x9 head, two 3x3 per block, one 3x3 after the body, the upsampler, a 9x9 tail at output size.
        self.receptive_field = math.ceil(1 + 8 + 4 * n_blocks + 2 + upsampler_receptive_field(scale) + 8 / scale)

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        if self.image_skip:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out
