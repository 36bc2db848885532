"""The DCGAN generator (Radford et al., 2016): noise, optionally with a class, to an image."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from gan_engine.components.generators.base import Generator
from gan_engine.components.generators.unet import make_output_activation
from gan_engine.errors import ShapeError
from gan_engine.nn import make_norm
from gan_engine.params import NonNegativeInt, PositiveInt
from gan_engine.registry import generators

__all__ = ["DCGANGenerator"]


@generators.register("dcgan")
class DCGANGenerator(Generator):
    """Transposed-convolution generator from a latent vector, for any band count.

    The latent ``z`` (concatenated with a learned class embedding when ``n_classes > 0``)
    is projected to a 4×4 map by a 4×4 transposed convolution; each following stage doubles
    the size with a stride-2 4×4 transposed convolution, normalisation and ReLU, halving the
    width, until ``image_size``. The last stage outputs ``out_channels`` bands.

    Metadata: ``input_kind = "latent"``, ``latent_dim`` (also exposed as ``in_channels``),
    ``scale = 1``, ``receptive_field = image_size`` (every pixel sees all of ``z``).

    Args:
        out_channels: bands of the generated image.
        latent_dim: length of ``z``.
        image_size: output height and width, a power of two ≥ 8.
        base_channels: width of the last hidden stage; earlier stages double it.
        n_classes: number of classes for class-conditional generation; 0 for none.
        norm: normalisation of the hidden stages (``"batch"`` in DCGAN).
        output_activation: ``"tanh"`` (DCGAN, for [-1, 1] data), ``"sigmoid"`` or ``"none"``.

    Shape:
        ``z``: ``(N, latent_dim)`` (or ``(N, latent_dim, 1, 1)``), ``labels``: ``(N,)`` integers
        → ``(N, out_channels, image_size, image_size)``.

    Example:
        >>> import torch
        >>> g = DCGANGenerator(out_channels=13, latent_dim=16, image_size=16, base_channels=8, n_classes=3)
        >>> g(g.sample_latent(2), torch.tensor([0, 2])).shape
        torch.Size([2, 13, 16, 16])
    """

    scales = (1,)
    input_kind: ClassVar[Literal["image", "latent"]] = "latent"

    def __init__(self, out_channels: PositiveInt = 3, latent_dim: PositiveInt = 100, image_size: PositiveInt = 64,
                 base_channels: PositiveInt = 64, n_classes: NonNegativeInt = 0, norm: str = "batch",
                 output_activation: str = "tanh") -> None:
        super().__init__()
        if image_size < 8 or image_size & (image_size - 1):
            raise ValueError(f"DCGAN image_size must be a power of two ≥ 8, got {image_size}")
        self._set_meta(latent_dim, out_channels, 1)
        self.latent_dim, self.n_classes, self.image_size = latent_dim, n_classes, image_size
        self.embed = nn.Embedding(n_classes, latent_dim) if n_classes > 0 else None
        n_stages = int(math.log2(image_size)) - 2
        ch = base_channels * 2 ** (n_stages - 1)
        z_in = latent_dim * (2 if n_classes > 0 else 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_in, ch, 4, 1, 0, bias=False), make_norm(norm, ch), nn.ReLU()]
        for _ in range(n_stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), make_norm(norm, ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, out_channels, 4, 2, 1), make_output_activation(output_activation)]
        self.net = nn.Sequential(*layers)
        self.receptive_field = image_size
        for m in self.modules():  # DCGAN initialisation
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, 0.0, 0.02)

    def sample_latent(self, batch_size: int, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> Tensor:
        """Draw ``(batch_size, latent_dim)`` standard normal latents (on the model's device by default)."""
        ref = next(self.parameters())
        return torch.randn(batch_size, self.latent_dim, generator=generator, device=device or ref.device,
                           dtype=ref.dtype)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if z.ndim == 4 and z.shape[-2:] == (1, 1):
            z = z.flatten(1)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ShapeError(f"DCGANGenerator expects z of shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        if self.embed is not None:
            if labels is None or labels.shape != (z.shape[0],):
                got = "none" if labels is None else tuple(labels.shape)
                raise ShapeError(f"this DCGANGenerator is class-conditional (n_classes={self.n_classes}); "
                                 f"pass labels of shape ({z.shape[0]},), got {got}")
            z = torch.cat([z, self.embed(labels)], dim=1)
        elif labels is not None:
            raise ShapeError("labels were passed to an unconditional DCGANGenerator; build it with n_classes > 0")
        out: Tensor = self.net(z[:, :, None, None])
        return out
