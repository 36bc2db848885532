"""A U-Net (Ronneberger et al., 2015) for image-to-image translation and inpainting."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gan_engine.components.generators.base import Generator
from gan_engine.nn import make_norm
from gan_engine.params import PositiveInt
from gan_engine.registry import generators

__all__ = ["OUTPUT_ACTIVATIONS", "UNet", "make_output_activation"]

#: Output activations by name; the normaliser's range decides which one fits.
OUTPUT_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"none": nn.Identity, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def make_output_activation(kind: str) -> nn.Module:
    """The output activation called ``kind``; a clear error lists the choices."""
    if kind not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"unknown output_activation {kind!r}; choose one of {', '.join(OUTPUT_ACTIVATIONS)}")
    return OUTPUT_ACTIVATIONS[kind]()


def _double_conv(ch_in: int, ch_out: int, norm: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(ch_in, ch_out, 3, padding=1), make_norm(norm, ch_out), nn.LeakyReLU(0.2),
        nn.Conv2d(ch_out, ch_out, 3, padding=1), make_norm(norm, ch_out), nn.LeakyReLU(0.2),
    )


class _Up(nn.Module):
    def __init__(self, ch_in: int, ch_skip: int, ch_out: int, norm: str) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(ch_in, ch_out, 2, stride=2)
        self.conv = _double_conv(ch_out + ch_skip, ch_out, norm)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        out: Tensor = self.conv(torch.cat([self.up(x), skip], dim=1))
        return out


@generators.register("unet")
class UNet(Generator):
    """Same-size encoder–decoder with skip connections, for any band count.

    ``depth`` levels of two 3×3 convolutions (normalisation, LeakyReLU) and 2×2 max pooling
    on the way down; transposed 2×2 convolutions, concatenated skips and two 3×3
    convolutions on the way up; a 1×1 output convolution. Conditioning (an inpainting
    mask, a label map, a second modality) enters as extra input channels: set
    ``in_channels`` to image bands + conditioning channels and ``out_channels`` to the bands
    produced.

    Args:
        in_channels: input channels, conditioning included.
        out_channels: output bands; default ``in_channels``.
        scale: must be 1 (accepted so that a configuration can state it).
        base_channels: width of the first level; doubled per level, capped at 8×.
        depth: number of poolings; input height and width must be multiples of ``2**depth``.
        norm: ``"batch"``, ``"instance"``, ``"group"``, ``"layer"`` or ``"none"``.
        output_activation: ``"none"``, ``"tanh"`` (for [-1, 1] data) or ``"sigmoid"`` ([0, 1]).

    Shape:
        ``(N, in_channels, H, W)`` → ``(N, out_channels, H, W)``, H and W multiples of ``2**depth``.

    Example:
        >>> import torch
        >>> g = UNet(in_channels=5, out_channels=4, base_channels=8, depth=2)  # 4 bands + a mask
        >>> g(torch.rand(1, 5, 16, 16)).shape
        torch.Size([1, 4, 16, 16])
    """

    scales = (1,)

    def __init__(self, in_channels: PositiveInt = 3, out_channels: PositiveInt | None = None, scale: PositiveInt = 1,
                 base_channels: PositiveInt = 64, depth: PositiveInt = 4, norm: str = "batch",
                 output_activation: str = "none") -> None:
        super().__init__()
        self._set_meta(in_channels, out_channels, scale)
        if depth < 1:
            raise ValueError(f"UNet depth must be at least 1, got {depth}")
        widths = [base_channels * min(2**i, 8) for i in range(depth + 1)]
        self.input_multiple = 2**depth
        self.down = nn.ModuleList([_double_conv(in_channels, widths[0], norm)]
                                  + [_double_conv(widths[i], widths[i + 1], norm) for i in range(depth)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(_Up(widths[i + 1], widths[i], widths[i], norm) for i in reversed(range(depth)))
        self.out = nn.Sequential(nn.Conv2d(widths[0], self.out_channels, 1),
                                 make_output_activation(output_activation))
        # Two 3x3 convs per level down and up, pooling and transposed convs, at stride 2**level.
        self.receptive_field = 1 + 10 * (2**depth - 1) + 4 * 2**depth

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        skips = []
        for i, level in enumerate(self.down):
            x = level(self.pool(x) if i else x)
            skips.append(x)
        x = skips.pop()
        for up in self.up:
            x = up(x, skips.pop())
        out: Tensor = self.out(x)
        return out
