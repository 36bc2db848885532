"""The contract of a task: how one job maps a batch onto the networks and losses.

A task is a plain object (no Lightning) built from the ``Task`` config section. The
training step never looks at batch keys itself; it asks the task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor

__all__ = ["Task"]


class Task(ABC):
    """Base class of every ``tasks`` registry entry.

    Subclasses say what a batch holds (:attr:`batch_keys`), how many bands the generator
    and discriminator see, and implement the hooks below. All hooks are pure tensor code.
    """

    #: Keys a batch mapping must hold.
    batch_keys: ClassVar[tuple[str, ...]] = ()
    #: Ratio between the generator's output size and its input size.
    scale: int = 1
    #: Whether the generator consumes an image (False for synthesis from noise).
    has_content_target: ClassVar[bool] = True

    def generator_channels(self, bands: int) -> tuple[int, int]:
        """``(in_channels, out_channels)`` of the generator for data with ``bands`` bands."""
        return bands, bands

    def discriminator_channels(self, bands: int) -> int:
        """Input channels of the discriminator (conditional tasks add the condition)."""
        return bands

    def derived_params(self, bands: int) -> dict[str, dict[str, Any]]:
        """Parameters this task implies for other config sections, ``{section: {key: value}}``.

        The config loader fills them in where the component accepts the key and reports a
        disagreement where the user set another value (as for band counts and the scale).
        """
        return {}

    @abstractmethod
    def prepare_batch(self, batch: Any) -> dict[str, Tensor]:
        """Check a raw batch and return it as a mapping of the task's :attr:`batch_keys`."""

    @abstractmethod
    def generator_inputs(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, ...]:
        """Positional arguments of the generator's ``forward``."""

    @abstractmethod
    def real(self, batch: Mapping[str, Tensor]) -> Tensor:
        """The real image the discriminator compares generated images against."""

    def discriminator_input(self, image: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """What the discriminator sees for ``image`` (a conditional task concatenates the condition)."""
        return image

    def content_pair(self, fake: Tensor, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(prediction, target)`` compared by the content losses."""
        return fake, self.real(batch)
