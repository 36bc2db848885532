"""Capabilities every built-in discriminator declares, and the input check they share.

The engine reads these instead of asking for a component's name:

- ``output_kind`` (class): ``"image"`` → logits ``(N, 1)``; ``"patch"`` → ``(N, 1, h, w)``
  (one logit per receptive-field patch); ``"pixel"`` → ``(N, 1, H, W)`` (one per pixel);
- ``returns_features`` (class): ``forward(x, return_features=True)`` returns
  ``(logits, [feature maps])`` for feature matching;
- ``in_channels``: channels judged (a conditional task concatenates the condition to the
  image, so this is bands + conditioning channels);
- ``min_size``: the smallest input height and width that gives a non-empty output.

Plugin discriminators need not subclass :class:`Discriminator`; declaring the same
attributes is enough.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from torch import Tensor, nn

from gan_engine.errors import ShapeError

__all__ = ["Discriminator", "FeatureStackDiscriminator", "OutputKind"]

OutputKind = Literal["image", "patch", "pixel"]


class Discriminator(nn.Module):
    """Base class of the built-in discriminators (capabilities and input validation)."""

    output_kind: ClassVar[OutputKind] = "image"
    returns_features: ClassVar[bool] = True

    in_channels: int
    min_size: int = 1

    def check_input(self, x: Tensor) -> None:
        """Raise :class:`ShapeError` unless ``x`` is ``(N, in_channels, H, W)`` with H, W ≥ ``min_size``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels or min(x.shape[-2:]) < self.min_size:
            raise ShapeError(f"{type(self).__name__} expects (N, {self.in_channels}, H, W) with H, W ≥ "
                             f"{self.min_size}, got {tuple(x.shape)}")


class FeatureStackDiscriminator(Discriminator):
    """A discriminator made of a stack of feature blocks (``self.features``) and a ``self.head``.

    The shared ``forward`` runs the blocks in order, keeps each block's output for feature
    matching, and applies the head to the last one.
    """

    features: nn.ModuleList
    head: nn.Module

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        self.check_input(x)
        feats = []
        for block in self.features:
            x = block(x)
            feats.append(x)
        logits: Tensor = self.head(x)
        return (logits, feats) if return_features else logits
