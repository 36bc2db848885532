"""Contract check of content losses, runnable on any ``kind = "content"`` loss."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.gradcheck import GradcheckError

from gan_engine.testing._common import assert_close, fail

__all__ = ["check_content_loss"]


def _takes_weight(loss: nn.Module) -> bool:
    try:
        return "weight" in inspect.signature(loss.forward).parameters
    except (TypeError, ValueError):
        return False


def _check_values(loss: nn.Module, bands: int, size: int, minimised_at_target: bool) -> None:
    pred, target = torch.rand(2, bands, size, size), torch.rand(2, bands, size, size)
    value = loss(pred, target)
    if not isinstance(value, Tensor) or value.ndim != 0:
        raise fail(loss, f"must return a scalar tensor, got {getattr(value, 'shape', type(value))}")
    if not torch.isfinite(value):
        raise fail(loss, f"non-finite value {value.item()} for {bands} bands")
    if minimised_at_target and loss(target, target) > value + 1e-6:
        raise fail(loss, f"loss(target, target) = {loss(target, target).item():.4g} exceeds "
                         f"loss(pred, target) = {value.item():.4g}; a content loss is smallest at the target")


def _check_shape_error(loss: nn.Module, size: int) -> None:
    pred, target = torch.rand(2, 3, size, size), torch.rand(2, 3, size, size - 1)
    try:
        loss(pred, target)
    except Exception as exc:
        if str(tuple(pred.shape)) not in str(exc) or str(tuple(target.shape)) not in str(exc):
            raise fail(loss, f"the error for mismatched shapes should name both shapes; got: {exc}") from exc
    else:
        raise fail(loss, f"accepted pred {tuple(pred.shape)} with target {tuple(target.shape)} silently")


def _check_weight(loss: nn.Module, bands: int, size: int, pointwise: bool) -> None:
    pred, target = torch.rand(2, bands, size, size), torch.rand(2, bands, size, size)
    ones = torch.ones(2, 1, size, size)
    assert_close(loss(pred, target, weight=ones), loss(pred, target), loss, "weight=ones differs from no weight")
    mask = torch.rand(2, 1, size, size) + 0.1
    assert_close(loss(pred, target, weight=3.0 * mask), loss(pred, target, weight=mask), loss,
                 "scaling every weight by a constant changed the loss (it must be a weighted mean)")
    if pointwise:
        half = torch.ones(2, 1, size, size)
        half[..., : size // 2] = 0.0
        changed = pred.clone()
        changed[..., : size // 2] = 5.0
        assert_close(loss(changed, target, weight=half), loss(pred, target, weight=half), loss,
                     "pixels with weight 0 changed the loss")


def _check_gradients(loss: nn.Module, bands: int, size: int) -> None:
    loss64 = copy.deepcopy(loss).double()
    pred = torch.rand(1, bands, size, size, dtype=torch.float64, requires_grad=True)
    target = torch.rand(1, bands, size, size, dtype=torch.float64)
    try:
        torch.autograd.gradcheck(lambda p: loss64(p, target), (pred,), fast_mode=True, atol=1e-5)
    except GradcheckError as exc:
        raise fail(loss, f"float64 gradcheck failed: {exc}") from exc


def check_content_loss(loss: nn.Module, *, function: Callable[..., Tensor] | None = None,
                       function_kwargs: dict[str, Any] | None = None, band_counts: Sequence[int] = (1, 3, 4, 13),
                       size: int = 16, gradcheck: bool = True, minimised_at_target: bool = True,
                       pointwise: bool = False) -> None:
    """Check that a content loss honours the gan_engine contract.

    ``kind == "content"``; a finite scalar for every band count; no larger at the target
    than elsewhere (``minimised_at_target``); an error naming both shapes for mismatched
    inputs; a float64 gradient check; equality with its functional core; and, when
    ``forward`` takes ``weight``: ``weight=ones`` equals no weight, scaling the weight
    changes nothing, and (``pointwise`` losses) pixels of weight 0 do not count.

    Args:
        loss: the loss module, built with the parameters to check.
        function: its functional core, called as ``function(pred, target, **function_kwargs)``.
        function_kwargs: keyword arguments giving ``function`` the module's parameters.
        band_counts: band counts to evaluate.
        size: image height and width.
        gradcheck: run :func:`torch.autograd.gradcheck` in float64 (fast mode).
        minimised_at_target: check ``loss(y, y) ≤ loss(ŷ, y)`` (false for regularisers such as TV).
        pointwise: each pixel's term depends on that pixel only (L1, MSE, SAM, ...).

    Raises:
        ContractViolation: naming the loss and the broken rule.
    """
    if getattr(loss, "kind", None) != "content":
        raise fail(loss, f"must declare kind = 'content', got {getattr(loss, 'kind', None)!r}")
    for bands in band_counts:
        _check_values(loss, bands, size, minimised_at_target)
    _check_shape_error(loss, size)
    if function is not None:
        pred, target = torch.rand(2, band_counts[-1], size, size), torch.rand(2, band_counts[-1], size, size)
        assert_close(loss(pred, target), function(pred, target, **(function_kwargs or {})), loss,
                     "the module and its functional core disagree")
    if _takes_weight(loss):
        _check_weight(loss, band_counts[-1], size, pointwise)
    if gradcheck:
        _check_gradients(loss, min(band_counts[-1], 4), size)
