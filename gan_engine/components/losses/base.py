"""The content-loss contract: ``forward(pred, target, weight=None)`` → a scalar.

Every content loss is a pure function plus a thin registered module with
``kind = "content"``. All of them accept an optional per-pixel ``weight``:

- shape ``(N, 1, H, W)`` (one weight per pixel, shared by every band) or ``(N, C, H, W)``
  (per pixel and band), non-negative;
- the loss becomes the *weighted mean* of its per-pixel terms,
  :math:`\\sum_p w_p \\ell_p / \\sum_p w_p`, so ``weight=None`` (or all ones) gives the
  plain mean, and scaling every weight by a constant changes nothing;
- the inpainting task uses it to weigh the hole and the known region differently.

Losses whose per-pixel term lives on another grid (feature maps of a perceptual network)
resample the weight to that grid by area averaging.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_engine.errors import ShapeError

__all__ = ["ContentLoss", "check_pair", "check_weight", "resize_weight", "weighted_mean"]


class ContentLoss(nn.Module):
    """Base class of the built-in content losses (capability attributes only).

    Attributes:
        kind: ``"content"``: the engine sums these, weighted, between output and target.
        supports_weight: ``forward`` accepts the per-pixel ``weight`` keyword.
    """

    kind: ClassVar[str] = "content"
    supports_weight: ClassVar[bool] = True


def check_pair(pred: Tensor, target: Tensor, name: str) -> None:
    """Raise :class:`ShapeError` unless both are ``(N, C, H, W)`` with the same shape."""
    if pred.ndim != 4 or pred.shape != target.shape:
        raise ShapeError(f"{name} expects pred and target of the same (N, C, H, W) shape, "
                         f"got {tuple(pred.shape)} and {tuple(target.shape)}")


def check_weight(weight: Tensor | None, like: Tensor, name: str) -> None:
    """Raise :class:`ShapeError` unless ``weight`` is ``None``, ``(N, 1, H, W)`` or ``(N, C, H, W)`` for ``like``."""
    if weight is None:
        return
    n, c, h, w = like.shape
    if weight.ndim != 4 or weight.shape[0] != n or weight.shape[1] not in (1, c) or weight.shape[-2:] != (h, w):
        raise ShapeError(f"{name} expects a weight of shape ({n}, 1, {h}, {w}) or ({n}, {c}, {h}, {w}), "
                         f"got {tuple(weight.shape)}")


def weighted_mean(values: Tensor, weight: Tensor | None, eps: float = 1e-12) -> Tensor:
    r"""Mean of ``values``, weighted: :math:`\sum w v / \sum w` with ``weight`` broadcast to ``values``.

    Args:
        values: per-element loss terms, ``(N, C, H, W)``.
        weight: ``None`` for the plain mean, or a tensor that broadcasts to ``values``.
        eps: floor of the weight sum (an all-zero weight gives 0, not NaN).
    """
    if values.dtype in (torch.float16, torch.bfloat16):  # a sum over many pixels overflows half precision
        values = values.float()
    if weight is None:
        return values.mean()
    w = weight.to(values.dtype).expand_as(values)
    return (values * w).sum() / w.sum().clamp_min(eps)


def resize_weight(weight: Tensor, size: Sequence[int]) -> Tensor:
    """Area-average a ``(N, C, H, W)`` weight onto a coarser ``size`` (e.g. a feature map's)."""
    if tuple(weight.shape[-2:]) == tuple(size):
        return weight
    return F.adaptive_avg_pool2d(weight, (int(size[0]), int(size[1])))
