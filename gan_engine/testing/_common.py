"""Helpers shared by the contract checks: building a component and failing clearly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from gan_engine.registry import accepts_keyword

__all__ = ["BAND_COUNTS", "ContractViolation", "Factory", "accepts", "build", "fail", "grads_ok", "same_rng"]

#: Band counts every built-in component is checked with (panchromatic, RGB, RGB-NIR, SWIR, Sentinel-2).
BAND_COUNTS: tuple[int, ...] = (1, 3, 4, 6, 13)

Factory = Callable[..., Any]


class ContractViolation(AssertionError):
    """A component breaks the gan_engine component contract (an ``AssertionError``, so pytest shows it)."""


def fail(component: Any, message: str) -> ContractViolation:
    """An error naming the component and what it got wrong."""
    name = getattr(component, "__qualname__", None) or type(component).__qualname__
    return ContractViolation(f"{name}: {message}")


def accepts(factory: Factory, key: str) -> bool:
    """Whether ``factory`` takes the keyword ``key`` (or any keyword; assumed when it has no signature)."""
    return accepts_keyword(factory, key, unknown=True)


def build(factory: Factory, **kwargs: Any) -> Any:
    """Call ``factory`` with the keywords it accepts; ``None`` values are left out."""
    return factory(**{k: v for k, v in kwargs.items() if v is not None and accepts(factory, k)})


@contextmanager
def same_rng(seed: int = 1234) -> Iterator[None]:
    """Run a block with the global torch RNG seeded, restoring the previous state afterwards."""
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_rng_state(state)


def grads_ok(module: nn.Module, component: Any) -> None:
    """Every trainable parameter received a finite gradient."""
    missing = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    if missing:
        raise fail(component, f"no gradient reached the parameters {missing[:5]} after backward; "
                              "are they unused in forward?")
    bad = [n for n, p in module.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    if bad:
        raise fail(component, f"non-finite gradients in {bad[:5]}")


def assert_close(a: Tensor, b: Tensor, component: Any, what: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Fail with ``what`` unless ``a`` and ``b`` match in shape and value."""
    if a.shape != b.shape or not torch.allclose(a, b, atol=atol, rtol=rtol):
        diff = (a - b).abs().max().item() if a.shape == b.shape else "shape differs"
        raise fail(component, f"{what} (max difference {diff})")
