"""The normaliser contract and the identity normaliser."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from gan_engine.registry import normalizers

__all__ = ["Identity", "Normalizer"]


class Normalizer(nn.Module):
    """Maps data radiometry to the range the networks train in, and back.

    Subclasses implement :meth:`normalize` and, when :attr:`invertible`, :meth:`denormalize`.
    ``forward`` is :meth:`normalize`.
    """

    invertible: ClassVar[bool] = True

    def normalize(self, x: Tensor) -> Tensor:
        return x

    def denormalize(self, x: Tensor) -> Tensor:
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.normalize(x)


@normalizers.register("identity")
class Identity(Normalizer):
    """Leave values unchanged (data already in the training range)."""
