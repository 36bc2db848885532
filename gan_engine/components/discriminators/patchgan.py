"""The PatchGAN discriminator of pix2pix (Isola et al., 2017): one logit per image patch."""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from gan_engine.components.discriminators.base import FeatureStackDiscriminator, OutputKind
from gan_engine.nn import make_norm, maybe_spectral_norm
from gan_engine.params import PositiveInt
from gan_engine.registry import discriminators

__all__ = ["PatchGANDiscriminator"]


@discriminators.register("patchgan")
class PatchGANDiscriminator(FeatureStackDiscriminator):
    """Fully convolutional discriminator that scores overlapping patches.

    ``n_layers`` stride-2 4×4 convolutions (width ``base_channels`` doubling per layer,
    capped at 8×), a stride-1 4×4 convolution and a 4×4 convolution to one channel; every
    convolution but the first and the last is normalised, all but the last use
    LeakyReLU(0.2). With ``n_layers=3`` each logit sees a 70×70 patch.

    For a conditional task (pix2pix), the engine concatenates the condition to the image,
    so ``in_channels`` is bands + conditioning channels.

    Args:
        in_channels: channels of the images it judges.
        base_channels: width of the first layer.
        n_layers: number of stride-2 layers.
        norm: ``"instance"`` (pix2pix), ``"batch"``, ``"group"``, ``"layer"`` or ``"none"``.
        spectral_norm: wrap every convolution in spectral normalisation.

    Shape:
        ``(N, in_channels, H, W)`` → ``(N, 1, ⌊H/2^n⌋ - 2, ⌊W/2^n⌋ - 2)`` for
        ``H, W ≥ 3·2^n_layers``.

    Example:
        >>> import torch
        >>> d = PatchGANDiscriminator(in_channels=8, base_channels=8, n_layers=2)  # 4 bands + 4 condition
        >>> d(torch.rand(2, 8, 32, 32)).shape
        torch.Size([2, 1, 6, 6])
    """

    output_kind: ClassVar[OutputKind] = "patch"

    def __init__(self, in_channels: PositiveInt = 3, base_channels: PositiveInt = 64, n_layers: PositiveInt = 3,
                 norm: str = "instance", spectral_norm: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        bias = norm == "none"
        sn = spectral_norm
        blocks: list[nn.Module] = [nn.Sequential(
            maybe_spectral_norm(nn.Conv2d(in_channels, base_channels, 4, 2, 1), sn), nn.LeakyReLU(0.2))]
        ch = base_channels
        for i in range(1, n_layers + 1):
            out, stride = base_channels * min(2**i, 8), 2 if i < n_layers else 1
            blocks.append(nn.Sequential(maybe_spectral_norm(nn.Conv2d(ch, out, 4, stride, 1, bias=bias), sn),
                                        make_norm(norm, out), nn.LeakyReLU(0.2)))
            ch = out
        self.features = nn.ModuleList(blocks)
        self.head = maybe_spectral_norm(nn.Conv2d(ch, 1, 4, 1, 1), sn)
        self.min_size = 3 * 2**n_layers
