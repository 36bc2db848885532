"""A small residual super-resolution generator, as a plugin would ship one."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class ExampleResidual(nn.Module):
    """Bicubic upsampling plus a learned residual.

    Args:
        in_channels: bands of the input.
        out_channels: bands of the output; default ``in_channels``.
        scale: upsampling factor.
        width: feature channels.
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, scale: int = 4,
                 width: int = 32) -> None:
        super().__init__()
        self.in_channels, self.scale = in_channels, scale
        self.out_channels = out_channels or in_channels
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, self.out_channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        up = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return up[:, : self.out_channels] + self.body(up)
