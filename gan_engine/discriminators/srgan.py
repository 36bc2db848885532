"""The SRGAN discriminator (Ledig et al., 2017): strided convolutions and one logit per image."""

from __future__ import annotations

from typing import ClassVar, Literal

from torch import Tensor, nn
from torch.nn.utils import parametrizations

from gan_engine.errors import ShapeError
from gan_engine.registry import discriminators

__all__ = ["SRGANDiscriminator"]


@discriminators.register("srgan")
class SRGANDiscriminator(nn.Module):
    """VGG-style discriminator with global pooling: one real/fake logit per image.

    Args:
        in_channels: bands of the images it judges.
        base_channels: width of the first stage; doubled every second convolution.
        n_stages: number of (stride-1, stride-2) convolution pairs.
        spectral_norm: wrap every convolution and linear layer in spectral normalisation.

    Shape:
        ``(N, in_channels, H, W)`` → ``(N, 1)`` for any ``H, W ≥ 2**n_stages``.
    """

    output_kind: ClassVar[Literal["image", "patch", "pixel"]] = "image"
    returns_features: ClassVar[bool] = True

    def __init__(self, in_channels: int = 3, base_channels: int = 64, n_stages: int = 4,
                 spectral_norm: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        wrap = parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        blocks: list[nn.Module] = []
        ch_in = in_channels
        for i in range(n_stages):
            ch = base_channels * 2 ** i
            for stride in (1, 2):
                if i == 0 and stride == 1:
                    blocks.append(nn.Sequential(wrap(nn.Conv2d(ch_in, ch, 3, 1, 1)), nn.LeakyReLU(0.2)))
                else:
                    blocks.append(nn.Sequential(wrap(nn.Conv2d(ch_in, ch, 3, stride, 1)), nn.LeakyReLU(0.2)))
                ch_in = ch
        self.features = nn.ModuleList(blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  wrap(nn.Linear(ch_in, ch_in * 2)), nn.LeakyReLU(0.2), wrap(nn.Linear(ch_in * 2, 1)))
        self.min_size = 2**n_stages

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"SRGANDiscriminator expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        feats = []
        for block in self.features:
            x = block(x)
            feats.append(x)
        logits = self.head(x)
        return (logits, feats) if return_features else logits
