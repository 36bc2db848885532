"""Metadata every built-in generator declares, and the input checks they share.

The engine, inference (tiling, padding) and the contract tests read these attributes
instead of asking for a component's name:

- ``scale``: output size / input size (1 for same-size and synthesis generators);
- ``in_channels`` / ``out_channels``: bands in and out (for a latent-input generator,
  ``in_channels`` is the latent size);
- ``input_multiple``: input height and width must be multiples of this;
- ``receptive_field``: an estimate, in input pixels, of the context one output pixel sees;
- ``scales`` (class): the scales the architecture supports;
- ``input_kind`` (class): ``"image"`` (``forward(x, ...)``) or ``"latent"`` (``forward(z, ...)``).

Plugin generators need not subclass :class:`Generator`; declaring the same attributes is
enough.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from torch import Tensor, nn

from gan_engine.errors import ShapeError

__all__ = ["Generator", "TrunkGenerator"]


class Generator(nn.Module):
    """Base class of the built-in generators (metadata and input validation)."""

    scales: ClassVar[tuple[int, ...]] = (1, 2, 4, 8)
    input_kind: ClassVar[Literal["image", "latent"]] = "image"

    scale: int
    in_channels: int
    out_channels: int
    input_multiple: int = 1
    receptive_field: int

    def _set_meta(self, in_channels: int, out_channels: int | None, scale: int) -> None:
        name = type(self).__name__
        if scale not in self.scales:
            raise ValueError(f"{name} supports scale {' / '.join(map(str, self.scales))}, got {scale}; "
                             "pick a supported scale or another generator")
        if in_channels < 1 or (out_channels is not None and out_channels < 1):
            raise ValueError(f"{name} needs at least one input and output band, got in_channels={in_channels}, "
                             f"out_channels={out_channels}")
        self.in_channels, self.scale = in_channels, scale
        self.out_channels = out_channels or in_channels

    def check_input(self, x: Tensor) -> None:
        """Raise :class:`ShapeError` unless ``x`` is ``(N, in_channels, H, W)``, H and W multiples of the multiple."""
        m = self.input_multiple
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[-2] % m or x.shape[-1] % m:
            size = "H, W" if m == 1 else f"H, W multiples of {m}"
            raise ShapeError(f"{type(self).__name__} expects (N, {self.in_channels}, {size}), got {tuple(x.shape)}")


class TrunkGenerator(Generator):
    """The residual-trunk layout shared by SRResNet, RRDB, RCAN and LKA generators.

    ``head`` maps the input to features, ``body`` refines them (with a long skip around it),
    ``upsample`` enlarges them by ``scale`` and ``tail`` maps them to the output bands.
    """

    head: nn.Module
    body: nn.Module
    upsample: nn.Module
    tail: nn.Module

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        feat = self.head(x)
        out: Tensor = self.tail(self.upsample(feat + self.body(feat)))
        return out
