"""The contract of a task: how one job maps a batch onto the networks and losses.

A task is a plain object (no Lightning) built from the ``Task`` config section. The
training step never looks at batch keys itself; it asks the task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from torch import Tensor

from gan_engine.errors import ShapeError
from gan_engine.metrics import psnr, ssim

__all__ = ["Task", "masked_term"]


def masked_term(loss: Callable[..., Tensor], pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    r"""A content loss over the pixels ``mask`` selects: the mean of its per-pixel terms there.

    A loss declaring ``supports_weight = True`` (every built-in content loss) is called with
    ``weight=mask`` and returns the weighted mean :math:`\sum_p m_p \ell_p / \sum_p m_p`,
    right for any loss: SSIM, SAM, total variation, perceptual. A loss without the keyword
    (e.g. a third-party module) falls back to comparing ``mask`` ⊙ ``pred`` with ``mask`` ⊙
    ``target`` and dividing by the mask's mean :math:`\bar m`; that equals the masked mean
    only for losses that average a per-pixel term (L1, MSE), not for windowed or feature losses,
    whose values near the mask's edge also see the zeroed pixels.

    Args:
        loss: a content loss ``loss(pred, target[, weight=])``.
        pred: ``(N, C, H, W)`` prediction.
        target: ``(N, C, H, W)`` reference.
        mask: ``(N, 1, H, W)`` non-negative weights, 1 on the pixels that count.
    """
    if getattr(loss, "supports_weight", False):
        return loss(pred, target, weight=mask)
    return loss(pred * mask, target * mask) / mask.mean().clamp_min(1e-6)


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
    #: Normaliser branch (``"lr"``, ``"hr"`` or ``"cond"``, as in ``Normalization``) of each
    #: batch key the engine normalises; keys not listed (masks, labels) are left alone.
    branches: ClassVar[Mapping[str, str]] = {}
    #: Branch the generator's output lives in (denormalised with that branch's normaliser).
    output_branch: ClassVar[str] = "hr"
    #: Span of valid values after denormalisation (PSNR and SSIM use it). A data module's
    #: ``data_range`` attribute takes precedence.
    data_range: float = 1.0

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

    #: Keys a prediction needs: the generator's inputs, never the target.
    input_keys: ClassVar[tuple[str, ...]] = ()

    def prepare_inputs(self, batch: Any) -> dict[str, Tensor]:
        """Check a prediction batch (inputs only) and return it as a mapping of :attr:`input_keys`.

        A bare tensor stands for the first input key. The default checks that every input
        is an ``(N, C, H, W)`` tensor.
        """
        if isinstance(batch, Tensor) and self.input_keys:
            batch = {self.input_keys[0]: batch}
        if isinstance(batch, (tuple, list)) and len(batch) == len(self.input_keys):
            batch = dict(zip(self.input_keys, batch))
        if not isinstance(batch, Mapping) or not set(self.input_keys) <= set(batch):
            raise ShapeError(f"a prediction batch of this task holds {', '.join(map(repr, self.input_keys))} "
                             f"(a tensor stands for {self.input_keys[0]!r}); got {type(batch).__name__}"
                             + (f" with keys {sorted(batch)}" if isinstance(batch, Mapping) else ""))
        for key in self.input_keys:
            if not isinstance(batch[key], Tensor) or batch[key].ndim != 4:
                shape = tuple(batch[key].shape) if isinstance(batch[key], Tensor) else type(batch[key]).__name__
                raise ShapeError(f"{key!r} must be an (N, C, H, W) tensor; got {shape}")
        return dict(batch)

    def predict_output(self, fake: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """The prediction made of the generator's output, both in data units (inpainting keeps the known pixels)."""
        return fake

    @abstractmethod
    def real(self, batch: Mapping[str, Tensor]) -> Tensor:
        """The real image the discriminator compares generated images against."""

    def discriminator_input(self, image: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """What the discriminator sees for ``image`` (a conditional task concatenates the condition)."""
        return image

    def content_pair(self, fake: Tensor, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(prediction, target)`` compared by the content losses."""
        return fake, self.real(batch)

    def content_loss(self, fake: Tensor, batch: Mapping[str, Tensor],
                     terms: Mapping[str, Callable[..., Tensor]]) -> dict[str, Tensor]:
        """Unweighted value of every content term; the engine weights and sums them.

        The default compares :meth:`content_pair`; a task overrides this to, e.g., weight
        the hole of an inpainting mask. When the batch holds a ``"valid"`` mask
        ``(N, 1, H, W)`` (data with no-data pixels), each term is the mean over the valid
        pixels only (see :func:`masked_term`).
        """
        pred, target = self.content_pair(fake, batch)
        valid = batch.get("valid")
        if valid is None:
            return {name: loss(pred, target) for name, loss in terms.items()}
        valid = valid.to(pred.dtype)
        return {name: masked_term(loss, pred, target, valid) for name, loss in terms.items()}

    def panels(self, fake: Tensor, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Ordered image columns for a validation panel, each ``(N, C, H, W)``; pass denormalised tensors."""
        return {"Output": fake, "Target": self.real(batch)}

    def panel_captions(self, batch: Mapping[str, Tensor]) -> list[str]:
        """One caption per sample of a validation panel (e.g. its class label); empty for none."""
        return []

    def validation_metrics(self, fake: Tensor, batch: Mapping[str, Tensor], data_range: float) -> dict[str, Tensor]:
        """Scalar metrics of one validation batch, computed on the device from denormalised tensors.

        Names are logged under ``val/``. The default: PSNR and SSIM against :meth:`real`.
        """
        if not self.has_content_target:
            return {}
        target = self.real(batch)
        return {"psnr": psnr(fake, target, data_range), "ssim": ssim(fake, target, data_range)}
