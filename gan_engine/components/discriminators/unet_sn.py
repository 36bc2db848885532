"""The U-Net discriminator with spectral normalisation of Real-ESRGAN (Wang et al., 2021)."""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from gan_engine.components.discriminators.base import Discriminator, OutputKind
from gan_engine.nn import maybe_spectral_norm
from gan_engine.params import PositiveInt
from gan_engine.registry import discriminators

__all__ = ["UNetDiscriminatorSN"]


@discriminators.register("unet_sn")
class UNetDiscriminatorSN(Discriminator):
    """U-Net discriminator: one real/fake logit per pixel, for local and global realism.

    A 3×3 input convolution; ``depth`` stride-2 4×4 convolutions doubling the width; as
    many bilinear ×2 upsamplings each followed by a 3×3 convolution halving it, with the
    matching encoder feature added (``skip_connection``); two 3×3 refinement convolutions
    and a 3×3 convolution to one channel. Every hidden convolution is spectrally
    normalised by default, which is what keeps this large discriminator stable.

    Args:
        in_channels: channels of the images it judges (bands, plus conditioning channels).
        base_channels: width of the input convolution.
        depth: number of downsamplings (3 in Real-ESRGAN).
        skip_connection: add encoder features to the decoder.
        spectral_norm: spectral normalisation of the hidden convolutions.

    Shape:
        ``(N, in_channels, H, W)`` → ``(N, 1, H, W)`` for ``H, W ≥ 2**depth``.

    Example:
        >>> import torch
        >>> d = UNetDiscriminatorSN(in_channels=4, base_channels=8)
        >>> d(torch.rand(2, 4, 24, 24)).shape
        torch.Size([2, 1, 24, 24])
    """

    output_kind: ClassVar[OutputKind] = "pixel"

    def __init__(self, in_channels: PositiveInt = 3, base_channels: PositiveInt = 64, depth: PositiveInt = 3,
                 skip_connection: bool = True, spectral_norm: bool = True) -> None:
        super().__init__()
        self.in_channels, self.skip_connection = in_channels, skip_connection
        sn = spectral_norm
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.stem = nn.Conv2d(in_channels, base_channels, 3, 1, 1)
        self.down = nn.ModuleList(maybe_spectral_norm(nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1, bias=False), sn)
                                  for i in range(depth))
        self.up = nn.ModuleList(maybe_spectral_norm(nn.Conv2d(widths[i + 1], widths[i], 3, 1, 1, bias=False), sn)
                                for i in reversed(range(depth)))
        self.refine = nn.ModuleList(maybe_spectral_norm(nn.Conv2d(base_channels, base_channels, 3, 1, 1, bias=False),
                                                        sn) for _ in range(2))
        self.head = nn.Conv2d(base_channels, 1, 3, 1, 1)
        self.act = nn.LeakyReLU(0.2)
        self.min_size = 2**depth

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        self.check_input(x)
        skips = [self.act(self.stem(x))]
        for conv in self.down:
            skips.append(self.act(conv(skips[-1])))
        h, feats = skips.pop(), []
        for conv in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = self.act(conv(h))
            h = h + skip if self.skip_connection else h
            feats.append(h)
        for conv in self.refine:
            h = self.act(conv(h))
        logits = self.head(h)
        return (logits, [*feats, h]) if return_features else logits
