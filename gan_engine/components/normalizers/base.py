"""The normaliser contract and the identity normaliser.

A normaliser maps data radiometry (reflectance, digital numbers, ...) to the range the
networks train in, and back. The same object is used for training batches, validation
images and inference, so the generator's output always means the same thing.

Contract (read by the engine instead of component names):

- ``normalize(x)`` / ``denormalize(x)``: pure functions of a ``(N, C, H, W)`` or
  ``(C, H, W)`` tensor, per band along dimension ``-3``; ``forward`` is ``normalize``;
- ``invertible``: ``denormalize(normalize(x)) == x`` (inside any clipping range);
- ``is_fitted`` / ``fit(data, key=None)``: a normaliser that estimates statistics from the
  training data (z-score, percentile) reports ``is_fitted = False`` until ``fit`` has run
  or the statistics were given; ``fit`` is a no-op for the others. Statistics live in
  buffers, so they are saved in checkpoints with the module that holds the normaliser.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from gan_engine.errors import GanEngineError, ShapeError
from gan_engine.registry import normalizers

__all__ = [
    "Identity",
    "Normalizer",
    "NormalizerNotFittedError",
    "as_band_tensor",
    "band_view",
    "iter_tensors",
]


class NormalizerNotFittedError(GanEngineError, RuntimeError):
    """A normaliser that needs statistics was used before they were given or estimated."""


def band_view(stat: Tensor, x: Tensor, name: str) -> Tensor:
    """``stat`` (one value per band) shaped ``(C, 1, 1)`` to broadcast over ``x`` of ``(…, C, H, W)``."""
    if x.ndim < 3 or x.shape[-3] != stat.numel():
        raise ShapeError(f"{name} holds statistics for {stat.numel()} bands but got a tensor of shape "
                         f"{tuple(x.shape)} (bands along dimension -3); fit it on data with the same bands")
    return stat.to(dtype=x.dtype, device=x.device).view(-1, 1, 1)


def iter_tensors(data: Tensor | Iterable[Any], key: str | None = None) -> Iterator[Tensor]:
    """The tensors of ``data``: a tensor, or an iterable of tensors or of mappings holding ``key``.

    Raises:
        ValueError: a mapping batch without ``key`` (the message lists its keys).
    """
    if isinstance(data, Tensor):
        yield data
        return
    for item in data:
        if isinstance(item, Tensor):
            yield item
        elif isinstance(item, Mapping):
            if key is None or key not in item:
                raise ValueError(f"fit() got batches with keys {sorted(item)}; pass key=... to choose the "
                                 f"tensor to estimate statistics from (got key={key!r})")
            yield item[key]
        else:
            raise TypeError(f"fit() expects tensors or mappings of tensors, got {type(item).__name__}")


class Normalizer(nn.Module):
    """Maps data radiometry to the range the networks train in, and back.

    Subclasses implement :meth:`normalize` and, when :attr:`invertible`, :meth:`denormalize`;
    those that estimate statistics also implement :meth:`fit` and :attr:`is_fitted`.
    ``forward`` is :meth:`normalize`.
    """

    #: ``denormalize`` undoes ``normalize`` (a chain sets this per instance).
    invertible: bool = True

    @property
    def is_fitted(self) -> bool:
        """Whether the normaliser has what it needs to run (always, unless it estimates statistics)."""
        return True

    def fit(self, data: Tensor | Iterable[Any], key: str | None = None) -> Normalizer:
        """Estimate statistics from training data; a no-op for normalisers without any. Returns ``self``."""
        return self

    def normalize(self, x: Tensor) -> Tensor:
        return x

    def denormalize(self, x: Tensor) -> Tensor:
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.normalize(x)


@normalizers.register("identity")
class Identity(Normalizer):
    """Leave values unchanged (data already in the training range)."""


def as_band_tensor(values: Any, name: str) -> Tensor:
    """One float64 value per band from a list (or a scalar, for one band); empty for ``None``."""
    if values is None:
        return torch.empty(0, dtype=torch.float64)
    t = torch.as_tensor(values, dtype=torch.float64).flatten()
    if t.numel() == 0:
        raise ValueError(f"{name} needs one value per band, got an empty list")
    return t
