"""The ESRGAN discriminator (Wang et al., 2018): a VGG-style classifier of whole images."""

from __future__ import annotations

from torch import nn

from gan_engine.components.discriminators.base import FeatureStackDiscriminator
from gan_engine.nn import make_norm, maybe_spectral_norm
from gan_engine.params import PositiveInt
from gan_engine.registry import discriminators

__all__ = ["ESRGANDiscriminator"]


def _block(ch_in: int, ch_out: int, kernel: int, stride: int, norm: str, sn: bool) -> nn.Sequential:
    conv = nn.Conv2d(ch_in, ch_out, kernel, stride, 1, bias=norm == "none")
    return nn.Sequential(maybe_spectral_norm(conv, sn), make_norm(norm, ch_out), nn.LeakyReLU(0.2))


@discriminators.register("esrgan")
class ESRGANDiscriminator(FeatureStackDiscriminator):
    """VGG-style discriminator: stages of 3×3 stride-1 and 4×4 stride-2 convolutions.

    A 3×3 convolution without normalisation, then ``n_stages`` stages of a 3×3 stride-1
    convolution (skipped in the first stage) and a 4×4 stride-2 convolution, each followed
    by normalisation and LeakyReLU(0.2); the width doubles per stage up to 8×
    ``base_channels``. Global average pooling (any input size), a hidden linear layer of
    ``linear_size`` units and one logit.

    Args:
        in_channels: channels of the images it judges (bands, plus conditioning channels).
        base_channels: width of the first stage.
        n_stages: number of stride-2 stages (5 in ESRGAN's 128-pixel model).
        norm: ``"batch"`` (ESRGAN), ``"instance"``, ``"group"``, ``"layer"`` or ``"none"``.
        linear_size: width of the hidden linear layer (100 in ESRGAN).
        spectral_norm: wrap every convolution and linear layer in spectral normalisation.

    Shape:
        ``(N, in_channels, H, W)`` → ``(N, 1)`` for ``H, W ≥ 2**n_stages``.

    Example:
        >>> import torch
        >>> d = ESRGANDiscriminator(in_channels=6, base_channels=8, n_stages=3)
        >>> d(torch.rand(2, 6, 16, 16)).shape
        torch.Size([2, 1])
    """

    def __init__(self, in_channels: PositiveInt = 3, base_channels: PositiveInt = 64, n_stages: PositiveInt = 5,
                 norm: str = "batch", linear_size: PositiveInt = 100, spectral_norm: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        sn = spectral_norm
        blocks: list[nn.Module] = [nn.Sequential(
            maybe_spectral_norm(nn.Conv2d(in_channels, base_channels, 3, 1, 1), sn), nn.LeakyReLU(0.2))]
        ch = base_channels
        for i in range(n_stages):
            out = base_channels * min(2**i, 8)
            if i:
                blocks.append(_block(ch, out, 3, 1, norm, sn))
            blocks.append(_block(out, out, 4, 2, norm, sn))
            ch = out
        self.features = nn.ModuleList(blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  maybe_spectral_norm(nn.Linear(ch, linear_size), sn), nn.LeakyReLU(0.2),
                                  maybe_spectral_norm(nn.Linear(linear_size, 1), sn))
        self.min_size = 2**n_stages
