"""A chain of normalisers applied in order, and undone in reverse order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from gan_engine.components.normalizers.base import Normalizer, iter_tensors
from gan_engine.registry import normalizers

__all__ = ["ChainNormalizer"]


@normalizers.register("chain")
class ChainNormalizer(Normalizer):
    """Several normalisers in sequence: ``normalize`` runs them in order, ``denormalize`` in reverse.

    Invertible when every step is. ``fit`` fits each step that needs statistics on the data
    as transformed by the steps before it, so ``data`` must be re-iterable (a tensor, a
    list or a DataLoader) when more than one step needs fitting.

    Args:
        steps: registry specs of the steps: names (``"signed"``) or mappings
            (``{"name": "scale", "factor": 10000}``).

    Example:
        >>> import gan_engine as ge
        >>> n = ge.normalizers.build("chain", steps=[{"name": "scale", "factor": 10000}, "signed"])
        >>> n.invertible
        True
    """

    def __init__(self, steps: Sequence[str | Mapping[str, Any]]) -> None:
        super().__init__()
        if not steps:
            raise ValueError("a chain normaliser needs at least one step")
        self.steps = nn.ModuleList(normalizers.build(step) for step in steps)
        self.invertible = all(getattr(s, "invertible", False) for s in self._steps())

    def _steps(self) -> list[Normalizer]:
        return list(self.steps)  # type: ignore[arg-type]

    @property
    def is_fitted(self) -> bool:
        return all(getattr(s, "is_fitted", True) for s in self._steps())

    def _through(self, data: Tensor | Iterable[Any], key: str | None, upto: int) -> Iterator[Tensor]:
        for x in iter_tensors(data, key):
            for step in self._steps()[:upto]:
                x = step.normalize(x)
            yield x

    def fit(self, data: Tensor | Iterable[Any], key: str | None = None) -> ChainNormalizer:
        for i, step in enumerate(self._steps()):
            if not getattr(step, "is_fitted", True):
                step.fit(self._through(data, key, i))
        return self

    def normalize(self, x: Tensor) -> Tensor:
        for step in self._steps():
            x = step.normalize(x)
        return x

    def denormalize(self, x: Tensor) -> Tensor:
        if not self.invertible:
            raise TypeError("this chain holds a step that cannot be inverted, so it has no denormalize")
        for step in reversed(self._steps()):
            x = step.denormalize(x)
        return x
