"""Radiometric normalisers: constant scaling, [0, 1] ↔ [-1, 1], per-band z-score and percentile stretch.

Each is a pure function pair (``*_normalize`` / ``*_denormalize``) and a registered module
that holds the parameters (statistics as buffers) and calls them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from gan_engine.components.normalizers.base import (
    Normalizer,
    NormalizerNotFittedError,
    as_band_tensor,
    band_view,
    iter_tensors,
)
from gan_engine.registry import normalizers

__all__ = [
    "PercentileNormalizer",
    "ScaleNormalizer",
    "SignedNormalizer",
    "ZScoreNormalizer",
    "scale_denormalize",
    "scale_normalize",
    "signed_denormalize",
    "signed_normalize",
    "stretch_denormalize",
    "stretch_normalize",
    "zscore_denormalize",
    "zscore_normalize",
]


def scale_normalize(x: Tensor, factor: float, offset: float = 0.0) -> Tensor:
    r""":math:`y = (x + \text{offset}) / \text{factor}`, e.g. Sentinel-2 L2A digital numbers to reflectance."""
    return (x + offset) / factor


def scale_denormalize(y: Tensor, factor: float, offset: float = 0.0) -> Tensor:
    r""":math:`x = y \cdot \text{factor} - \text{offset}`, the inverse of :func:`scale_normalize`."""
    return y * factor - offset


def signed_normalize(x: Tensor) -> Tensor:
    r"""[0, 1] → [-1, 1]: :math:`y = 2x - 1`."""
    return 2.0 * x - 1.0


def signed_denormalize(y: Tensor) -> Tensor:
    r"""[-1, 1] → [0, 1]: :math:`x = (y + 1) / 2`."""
    return (y + 1.0) / 2.0


def zscore_normalize(x: Tensor, mean: Tensor, std: Tensor, eps: float = 1e-6) -> Tensor:
    r"""Per band :math:`y_c = (x_c - \mu_c) / \max(\sigma_c, \varepsilon)`; ``mean``/``std`` hold one value per band."""
    return (x - band_view(mean, x, "zscore")) / band_view(std, x, "zscore").clamp_min(eps)


def zscore_denormalize(y: Tensor, mean: Tensor, std: Tensor, eps: float = 1e-6) -> Tensor:
    r"""Per band :math:`x_c = y_c \max(\sigma_c, \varepsilon) + \mu_c`, the inverse of :func:`zscore_normalize`."""
    return y * band_view(std, y, "zscore").clamp_min(eps) + band_view(mean, y, "zscore")


def stretch_normalize(x: Tensor, low: Tensor, high: Tensor, eps: float = 1e-6) -> Tensor:
    r"""Per band linear stretch :math:`y_c = (x_c - l_c) / \max(h_c - l_c, \varepsilon)`: ``low`` → 0, ``high`` → 1."""
    lo = band_view(low, x, "percentile")
    return (x - lo) / (band_view(high, x, "percentile") - lo).clamp_min(eps)


def stretch_denormalize(y: Tensor, low: Tensor, high: Tensor, eps: float = 1e-6) -> Tensor:
    r"""Per band :math:`x_c = y_c \max(h_c - l_c, \varepsilon) + l_c`, the inverse of :func:`stretch_normalize`."""
    lo = band_view(low, y, "percentile")
    return y * (band_view(high, y, "percentile") - lo).clamp_min(eps) + lo


@normalizers.register("scale")
class ScaleNormalizer(Normalizer):
    """Divide by a constant (after adding an offset); e.g. Sentinel-2 L2A: ``factor=10000, offset=-1000``
    for processing baseline ≥ 04.00, ``offset=0`` before.

    Args:
        factor: the divisor (quantification value).
        offset: added before dividing.
        clip: clamp normalised values to [0, 1]; values outside cannot be restored then.
    """

    def __init__(self, factor: float = 10000.0, offset: float = 0.0, clip: bool = False) -> None:
        super().__init__()
        if factor == 0:
            raise ValueError("scale factor must be non-zero")
        self.factor, self.offset, self.clip = float(factor), float(offset), clip

    def normalize(self, x: Tensor) -> Tensor:
        y = scale_normalize(x, self.factor, self.offset)
        return y.clamp(0.0, 1.0) if self.clip else y

    def denormalize(self, x: Tensor) -> Tensor:
        return scale_denormalize(x, self.factor, self.offset)


@normalizers.register("signed")
class SignedNormalizer(Normalizer):
    """Map [0, 1] to [-1, 1] (for tanh outputs) and back."""

    def normalize(self, x: Tensor) -> Tensor:
        return signed_normalize(x)

    def denormalize(self, x: Tensor) -> Tensor:
        return signed_denormalize(x)


class _StatsNormalizer(Normalizer):
    """A normaliser with two per-band statistics held in buffers (resized when a state dict is loaded)."""

    _stats: tuple[str, str]

    def _set_stats(self, first: Any, second: Any) -> None:
        a, b = as_band_tensor(first, self._stats[0]), as_band_tensor(second, self._stats[1])
        if a.numel() != b.numel():
            raise ValueError(f"{type(self).__name__}: {self._stats[0]} and {self._stats[1]} need one value per band "
                             f"each, got {a.numel()} and {b.numel()} values")
        old = getattr(self, self._stats[0], None)
        device = old.device if isinstance(old, Tensor) else None  # keep fitted stats beside the module
        self.register_buffer(self._stats[0], a.to(device))
        self.register_buffer(self._stats[1], b.to(device))

    @property
    def is_fitted(self) -> bool:
        return bool(getattr(self, self._stats[0]).numel())

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise NormalizerNotFittedError(
                f"{type(self).__name__} has no {self._stats[0]}/{self._stats[1]} statistics yet: give them (one "
                f"value per band) in its parameters, or call .fit(training data) before normalising")

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        for name in self._stats:  # an unfitted instance accepts the saved statistics
            saved = state_dict.get(prefix + name)
            if isinstance(saved, Tensor) and saved.shape != getattr(self, name).shape:
                setattr(self, name, torch.empty_like(saved))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


@normalizers.register("zscore")
class ZScoreNormalizer(_StatsNormalizer):
    """Per-band standardisation to zero mean and unit deviation; see :func:`zscore_normalize`.

    Args:
        mean: per-band means, or ``None`` to estimate them with :meth:`fit`.
        std: per-band standard deviations, or ``None`` to estimate them with :meth:`fit`.
        eps: smallest deviation divided by (constant bands).
    """

    _stats = ("mean", "std")
    mean: Tensor
    std: Tensor

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 eps: float = 1e-6) -> None:
        super().__init__()
        if (mean is None) != (std is None):
            raise ValueError("zscore: give both mean and std, or neither (and call fit)")
        self._set_stats(mean, std)
        self.eps = eps

    def fit(self, data: Tensor | Iterable[Any], key: str | None = None) -> ZScoreNormalizer:
        """Estimate per-band mean and (population) deviation from a tensor or an iterable of batches."""
        count, total, squares = 0, torch.zeros(()), torch.zeros(())
        for x in iter_tensors(data, key):
            bands = x.detach().to(torch.float64).movedim(-3, 0).reshape(x.shape[-3], -1)
            count += bands.shape[1]
            total, squares = total + bands.sum(dim=1).cpu(), squares + bands.square().sum(dim=1).cpu()
        if count == 0:
            raise ValueError("zscore fit() got no data")
        mean = total / count
        self._set_stats(mean, (squares / count - mean.square()).clamp_min(0.0).sqrt())
        return self

    def normalize(self, x: Tensor) -> Tensor:
        self._require_fitted()
        return zscore_normalize(x, self.mean, self.std, self.eps)

    def denormalize(self, x: Tensor) -> Tensor:
        self._require_fitted()
        return zscore_denormalize(x, self.mean, self.std, self.eps)


@normalizers.register("percentile")
class PercentileNormalizer(_StatsNormalizer):
    """Per-band linear stretch mapping the low percentile to 0 and the high one to 1.

    Give the band values (``low``, ``high``) or let :meth:`fit` estimate them as the
    ``percentiles`` of a seeded random sample of at most ``max_samples`` values per band.

    Args:
        low: per-band values mapped to 0, or ``None`` to fit.
        high: per-band values mapped to 1, or ``None`` to fit.
        percentiles: ``(low, high)`` percentiles estimated by :meth:`fit`.
        clip: clamp normalised values to [0, 1]; values outside cannot be restored then.
        max_samples: values per band kept for the estimate.
        seed: seed of the subsampling.
    """

    _stats = ("low", "high")
    low: Tensor
    high: Tensor

    def __init__(self, low: Sequence[float] | None = None, high: Sequence[float] | None = None,
                 percentiles: Sequence[float] = (2.0, 98.0), clip: bool = False, max_samples: int = 1_000_000,
                 seed: int = 0) -> None:
        super().__init__()
        if (low is None) != (high is None):
            raise ValueError("percentile: give both low and high, or neither (and call fit)")
        if len(percentiles) != 2 or not 0.0 <= percentiles[0] < percentiles[1] <= 100.0:
            raise ValueError(f"percentiles must be (low, high) with 0 ≤ low < high ≤ 100, got {tuple(percentiles)}")
        self._set_stats(low, high)
        self.percentiles, self.clip, self.max_samples, self.seed = tuple(percentiles), clip, max_samples, seed

    def fit(self, data: Tensor | Iterable[Any], key: str | None = None) -> PercentileNormalizer:
        """Estimate the per-band percentiles from a tensor or an iterable of batches."""
        gen = torch.Generator().manual_seed(self.seed)
        kept: Tensor | None = None
        for x in iter_tensors(data, key):
            bands = x.detach().to(torch.float64).cpu().movedim(-3, 0).reshape(x.shape[-3], -1)
            kept = bands if kept is None else torch.cat([kept, bands], dim=1)
            if kept.shape[1] > self.max_samples:
                kept = kept[:, torch.randperm(kept.shape[1], generator=gen)[: self.max_samples]]
        if kept is None:
            raise ValueError("percentile fit() got no data")
        q = torch.tensor(self.percentiles, dtype=torch.float64) / 100.0
        lo_hi = torch.quantile(kept, q, dim=1)
        self._set_stats(lo_hi[0], lo_hi[1])
        return self

    def normalize(self, x: Tensor) -> Tensor:
        self._require_fitted()
        y = stretch_normalize(x, self.low, self.high)
        return y.clamp(0.0, 1.0) if self.clip else y

    def denormalize(self, x: Tensor) -> Tensor:
        self._require_fitted()
        return stretch_denormalize(x, self.low, self.high)
