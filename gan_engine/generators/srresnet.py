"""SRResNet (Ledig et al., 2017): residual blocks followed by sub-pixel upsampling."""

from __future__ import annotations

from torch import Tensor, nn

from gan_engine.errors import ShapeError
from gan_engine.nn import PixelShuffleUpsampler
from gan_engine.registry import generators

__all__ = ["SRResNet"]


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, batch_norm: bool) -> None:
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(channels)) if batch_norm else nn.Identity
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), norm(), nn.PReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), norm(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


@generators.register("srresnet")
class SRResNet(nn.Module):
    """SRResNet super-resolution generator for any band count.

    Args:
        in_channels: bands of the input image.
        out_channels: bands of the output; default ``in_channels``.
        scale: upsampling factor (1, 2, 4 or 8).
        n_channels: feature width.
        n_blocks: number of residual blocks.
        batch_norm: use batch normalisation in the residual blocks (the original design;
            off by default, as in EDSR, because it harms colour fidelity at small batches).

    Shape:
        ``(N, in_channels, H, W)`` → ``(N, out_channels, H·scale, W·scale)``.
    """

    input_multiple = 1

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, scale: int = 4,
                 n_channels: int = 64, n_blocks: int = 16, batch_norm: bool = False) -> None:
        super().__init__()
        self.in_channels, self.scale = in_channels, scale
        self.out_channels = out_channels or in_channels
        self.head = nn.Sequential(nn.Conv2d(in_channels, n_channels, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*(_ResidualBlock(n_channels, batch_norm) for _ in range(n_blocks)),
                                  nn.Conv2d(n_channels, n_channels, 3, padding=1))
        self.upsample = PixelShuffleUpsampler(n_channels, scale)
        self.tail = nn.Conv2d(n_channels, self.out_channels, 9, padding=4)
        # 9x9 head and tail, two 3x3 per block, one 3x3 after the body, 3x3 per upsampling stage.
        self.receptive_field = 9 + 2 * (2 * n_blocks + 1) + 8 // max(scale, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"SRResNet expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        feat = self.head(x)
        return self.tail(self.upsample(feat + self.body(feat)))
