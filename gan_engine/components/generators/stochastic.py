"""A stochastic SR generator: residual blocks modulated by a noise vector."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gan_engine.components.generators.base import Generator
from gan_engine.components.generators.srresnet import upsampler_receptive_field
from gan_engine.errors import ShapeError
from gan_engine.nn import PixelShuffleUpsampler
from gan_engine.params import PositiveFloat, PositiveInt
from gan_engine.registry import generators

__all__ = ["StochasticGenerator"]


class _ModulatedBlock(nn.Module):
    r"""conv → feature-wise affine modulation :math:`h (1 + \gamma) + \beta` → LeakyReLU → conv."""

    def __init__(self, channels: int, style_dim: int, res_scale: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.affine = nn.Linear(style_dim, 2 * channels)
        # Small but non-zero: the noise matters from the first step without swamping the features.
        self.affine.weight.data.mul_(0.1)
        nn.init.zeros_(self.affine.bias)
        self.act = nn.LeakyReLU(0.2)
        self.res_scale = res_scale

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        gamma, beta = self.affine(style)[:, :, None, None].chunk(2, dim=1)
        h = self.act(self.conv1(x) * (1 + gamma) + beta)
        out: Tensor = x + self.res_scale * self.conv2(h)
        return out


@generators.register("stochastic")
class StochasticGenerator(Generator):
    """A generator whose residual blocks are modulated by a noise vector, for diverse outputs.

    A mapping MLP turns the noise ``z`` into a style vector; every block turns the style
    into a per-channel scale ``γ`` and shift ``β`` applied after its first convolution.
    Pass ``noise`` to fix it (reproducible inference); leave it ``None`` to draw
    ``z ~ N(0, I)`` from the global torch generator on each call.

    Args:
        in_channels: bands of the input image.
        out_channels: bands of the output; default ``in_channels``.
        scale: upsampling factor (1, 2, 4 or 8).
        n_channels: feature width.
        n_blocks: number of modulated residual blocks.
        noise_dim: length of the noise vector.
        res_scale: scaling of each block's residual.

    Shape:
        ``x``: ``(N, in_channels, H, W)``, ``noise``: ``(N, noise_dim)`` →
        ``(N, out_channels, H·scale, W·scale)``.

    Example:
        >>> import torch
        >>> g = StochasticGenerator(in_channels=4, scale=2, n_channels=8, n_blocks=1, noise_dim=4)
        >>> x, z = torch.rand(2, 4, 8, 8), g.sample_noise(2)
        >>> torch.equal(g(x, z), g(x, z))
        True
    """

    def __init__(self, in_channels: PositiveInt = 3, out_channels: PositiveInt | None = None, scale: PositiveInt = 4,
                 n_channels: PositiveInt = 64, n_blocks: PositiveInt = 16, noise_dim: PositiveInt = 128,
                 res_scale: PositiveFloat = 0.2) -> None:
        super().__init__()
        self._set_meta(in_channels, out_channels, scale)
        self.noise_dim = noise_dim
        self.mapping = nn.Sequential(nn.Linear(noise_dim, n_channels), nn.LeakyReLU(0.2),
                                     nn.Linear(n_channels, n_channels), nn.LeakyReLU(0.2))
        self.head = nn.Conv2d(in_channels, n_channels, 3, padding=1)
        self.blocks = nn.ModuleList(_ModulatedBlock(n_channels, n_channels, res_scale) for _ in range(n_blocks))
        self.body_tail = nn.Conv2d(n_channels, n_channels, 3, padding=1)
        self.upsample = PixelShuffleUpsampler(n_channels, scale, nn.PReLU)
        self.tail = nn.Conv2d(n_channels, self.out_channels, 3, padding=1)
        self.receptive_field = math.ceil(1 + 2 + 4 * n_blocks + 2 + upsampler_receptive_field(scale) + 2 / scale)

    def sample_noise(self, batch_size: int, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> Tensor:
        """Draw ``(batch_size, noise_dim)`` standard normal noise (on the model's device by default)."""
        ref = next(self.parameters())
        return torch.randn(batch_size, self.noise_dim, generator=generator, device=device or ref.device,
                           dtype=ref.dtype)

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        self.check_input(x)
        if noise is None:
            noise = torch.randn(x.shape[0], self.noise_dim, device=x.device, dtype=x.dtype)
        elif noise.shape != (x.shape[0], self.noise_dim):
            raise ShapeError(f"StochasticGenerator expects noise of shape ({x.shape[0]}, {self.noise_dim}) "
                             f"for a batch of {x.shape[0]}, got {tuple(noise.shape)}")
        style = self.mapping(noise)
        feat = self.head(x)
        h = feat
        for block in self.blocks:
            h = block(h, style)
        out: Tensor = self.tail(self.upsample(feat + self.body_tail(h)))
        return out
