"""Large-kernel attention (Guo et al., 2022, Visual Attention Network) as an SR generator."""

from __future__ import annotations

import math

from torch import Tensor, nn

from gan_engine.components.generators.base import TrunkGenerator
from gan_engine.components.generators.srresnet import upsampler_receptive_field
from gan_engine.nn import LayerNorm2d, PixelShuffleUpsampler
from gan_engine.params import PositiveFloat, PositiveInt
from gan_engine.registry import generators

__all__ = ["LKANet", "LargeKernelAttention"]


class LargeKernelAttention(nn.Module):
    """An attention map from three cheap convolutions, multiplied into the input.

    A 5×5 depthwise convolution, a 7×7 depthwise convolution with dilation 3 and a 1×1
    convolution stand in for a 21×21 convolution: together they see a 23×23
    neighbourhood at the cost of a few small kernels.

    Args:
        channels: feature channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.attn = nn.Sequential(
            nn.Conv2d(channels, channels, 5, padding=2, groups=channels),
            nn.Conv2d(channels, channels, 7, padding=9, dilation=3, groups=channels),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = x * self.attn(x)
        return out


class _LKABlock(nn.Module):
    """Pre-norm attention and feed-forward branches, each with a scaled residual."""

    def __init__(self, channels: int, mlp_ratio: float, res_scale: float) -> None:
        super().__init__()
        hidden = max(1, int(channels * mlp_ratio))
        self.attn = nn.Sequential(LayerNorm2d(channels), nn.Conv2d(channels, channels, 1), nn.GELU(),
                                  LargeKernelAttention(channels), nn.Conv2d(channels, channels, 1))
        self.ffn = nn.Sequential(LayerNorm2d(channels), nn.Conv2d(channels, hidden, 1),
                                 nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden), nn.GELU(),
                                 nn.Conv2d(hidden, channels, 1))
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.res_scale * self.attn(x)
        out: Tensor = x + self.res_scale * self.ffn(x)
        return out


@generators.register("lka")
class LKANet(TrunkGenerator):
    """SR generator built from large-kernel-attention blocks, for any band count.

    A 3×3 head, ``n_blocks`` blocks (layer norm → 1×1 → GELU → large-kernel attention → 1×1,
    then a depthwise-convolutional feed-forward branch), a 3×3 trunk convolution with a long
    skip, ×2 sub-pixel stages (ICNR-initialised) and a 3×3 tail. Each block sees a 23×23
    window, so the receptive field grows quickly with few parameters.

    Args:
        in_channels: bands of the input image.
        out_channels: bands of the output; default ``in_channels``.
        scale: upsampling factor (1, 2, 4 or 8).
        n_channels: feature width.
        n_blocks: number of attention blocks.
        mlp_ratio: hidden width of the feed-forward branch, relative to ``n_channels``.
        res_scale: scaling of each branch's residual.

    Shape:
        ``(N, in_channels, H, W)`` → ``(N, out_channels, H·scale, W·scale)``.

    Example:
        >>> import torch
        >>> g = LKANet(in_channels=4, scale=4, n_channels=8, n_blocks=1)
        >>> g(torch.rand(1, 4, 8, 8)).shape
        torch.Size([1, 4, 32, 32])
    """

    def __init__(self, in_channels: PositiveInt = 3, out_channels: PositiveInt | None = None, scale: PositiveInt = 4,
                 n_channels: PositiveInt = 64, n_blocks: PositiveInt = 16, mlp_ratio: PositiveFloat = 2.0,
                 res_scale: PositiveFloat = 1.0) -> None:
        super().__init__()
        self._set_meta(in_channels, out_channels, scale)
        self.head = nn.Conv2d(in_channels, n_channels, 3, padding=1)
        self.body = nn.Sequential(*(_LKABlock(n_channels, mlp_ratio, res_scale) for _ in range(n_blocks)),
                                  nn.Conv2d(n_channels, n_channels, 3, padding=1))
        self.upsample = PixelShuffleUpsampler(n_channels, scale, nn.GELU)
        self.tail = nn.Conv2d(n_channels, self.out_channels, 3, padding=1)
        # each block: 5x5 + dilated 7x7 (22 pixels) and a 3x3 depthwise convolution.
        self.receptive_field = math.ceil(1 + 2 + 24 * n_blocks + 2 + upsampler_receptive_field(scale) + 2 / scale)
