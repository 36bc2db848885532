"""The SRGAN discriminator (Ledig et al., 2017): strided convolutions and one logit per image."""

from __future__ import annotations

from torch import nn

from gan_engine.components.discriminators.base import FeatureStackDiscriminator
from gan_engine.nn import make_norm, maybe_spectral_norm
from gan_engine.params import PositiveInt
from gan_engine.registry import discriminators

__all__ = ["SRGANDiscriminator"]


@discriminators.register("srgan")
class SRGANDiscriminator(FeatureStackDiscriminator):
    """VGG-style discriminator with global pooling: one real/fake logit per image.

    ``n_stages`` pairs of 3×3 convolutions (stride 1, then stride 2) with LeakyReLU(0.2),
    the width doubling every stage; global average pooling (so any input size works), a
    hidden linear layer and one logit.

    Args:
        in_channels: channels of the images it judges (bands, plus conditioning channels
            for a conditional task).
        base_channels: width of the first stage; doubled every stage.
        n_stages: number of (stride-1, stride-2) convolution pairs.
        norm: normalisation after every convolution but the first (``"batch"`` in SRGAN;
            ``"none"`` by default, which suits spectral norm and gradient penalties).
        spectral_norm: wrap every convolution and linear layer in spectral normalisation.

    Shape:
        ``(N, in_channels, H, W)`` → ``(N, 1)`` for any ``H, W ≥ 2**n_stages``.

    Example:
        >>> import torch
        >>> d = SRGANDiscriminator(in_channels=13, base_channels=8, n_stages=2)
        >>> d(torch.rand(2, 13, 16, 16)).shape
        torch.Size([2, 1])
    """

    def __init__(self, in_channels: PositiveInt = 3, base_channels: PositiveInt = 64, n_stages: PositiveInt = 4,
                 norm: str = "none", spectral_norm: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        blocks: list[nn.Module] = []
        ch_in = in_channels
        for i in range(n_stages):
            ch = base_channels * 2**i
            for stride in (1, 2):
                first = i == 0 and stride == 1
                blocks.append(nn.Sequential(maybe_spectral_norm(nn.Conv2d(ch_in, ch, 3, stride, 1), spectral_norm),
                                            nn.Identity() if first else make_norm(norm, ch), nn.LeakyReLU(0.2)))
                ch_in = ch
        self.features = nn.ModuleList(blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  maybe_spectral_norm(nn.Linear(ch_in, ch_in * 2), spectral_norm), nn.LeakyReLU(0.2),
                                  maybe_spectral_norm(nn.Linear(ch_in * 2, 1), spectral_norm))
        self.min_size = 2**n_stages
