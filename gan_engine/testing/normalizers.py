"""Contract check of normalisers, runnable on any ``normalizers`` component."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gan_engine.testing._common import Factory, assert_close, fail

__all__ = ["check_normalizer"]


def _fitted(factory: Factory, sample: Tensor, kwargs: dict[str, Any]) -> Any:
    norm = factory(**kwargs)
    if not getattr(norm, "is_fitted", True):
        norm.fit(sample)
        if not norm.is_fitted:
            raise fail(factory, "is_fitted is still False after fit(sample)")
    return norm


def check_normalizer(factory: Factory, sample: Tensor | None = None, *, atol: float = 1e-4, **kwargs: Any) -> None:
    """Check that a normaliser honours the gan_engine contract.

    Builds ``factory(**kwargs)`` (fitting it on ``sample`` when ``is_fitted`` is False), then
    checks: shape and dtype kept, finite values, the input left untouched, ``forward`` ≡
    ``normalize``, an unbatched ``(C, H, W)`` tensor normalised like a batch row, the round
    trip ``denormalize(normalize(x)) ≈ x`` when ``invertible``, and a fresh instance that
    loads the state dict normalising identically.

    Args:
        factory: the normaliser class (or any callable returning it).
        sample: ``(N, C, H, W)`` data in the normaliser's input range; default uniform [0, 1)
            with 4 bands. Keep it inside any clipping range for the round trip.
        atol: absolute tolerance of the round trip.
        **kwargs: constructor arguments.

    Raises:
        ContractViolation: naming the normaliser and the broken rule.
    """
    x = torch.rand(2, 4, 8, 8) if sample is None else sample
    norm = _fitted(factory, x, kwargs)
    before = x.clone()
    y = norm.normalize(x)
    if not torch.equal(x, before):
        raise fail(factory, "normalize modified its input in place")
    if y.shape != x.shape or y.dtype != x.dtype or not torch.isfinite(y).all():
        raise fail(factory, f"normalize turned {tuple(x.shape)} {x.dtype} into {tuple(y.shape)} {y.dtype} "
                            "(or non-finite values)")
    assert_close(norm(x), y, factory, "forward differs from normalize")
    assert_close(norm.normalize(x[0]), y[0], factory, "an unbatched (C, H, W) tensor is normalised differently")
    if getattr(norm, "invertible", False):
        assert_close(norm.denormalize(y), x, factory, "denormalize(normalize(x)) does not give x back", atol=atol)
    fresh = factory(**kwargs)
    fresh.load_state_dict(norm.state_dict())
    assert_close(fresh.normalize(x), y, factory, "a fresh instance loaded from the state dict normalises differently")
