"""Data modules from objects already in memory, for notebooks: tensors or data sets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from gan_engine.components.degradations.base import build_degradation
from gan_engine.data.base import GanDataModule
from gan_engine.data.datasets import DegradationExtra, Extra, PatchDataset, TensorLoader
from gan_engine.errors import ShapeError

__all__ = ["from_datasets", "from_tensors"]


def from_datasets(train: Dataset[Any], val: Dataset[Any] | None = None, test: Dataset[Any] | None = None, *,
                  batch_size: int = 8, val_batch_size: int | None = None, num_workers: int = 0,
                  pin_memory: bool | None = None, persistent_workers: bool = True,
                  collate_fn: Callable[[list[Any]], Any] | None = None, scale: int | None = None,
                  degradation: Mapping[str, Any] | None = None, seed: int = 0) -> GanDataModule:
    """A data module over your own map-style data sets.

    Each item must be what the task expects (for super-resolution a mapping with
    ``"lr"`` and ``"hr"``, or a tuple ``(lr, hr)``). With ``scale`` set, items that only
    hold ``"hr"`` get their ``"lr"`` made on the device by the degradation pipeline.

    Args:
        train: training data set.
        val: validation data set; default: none (Lightning then skips validation).
        test: test data set; default: the validation one.
        batch_size: training batch size.
        val_batch_size: evaluation batch size; default: ``batch_size``.
        num_workers: data-loader worker processes.
        pin_memory: page-locked host memory; default: on when CUDA is available.
        persistent_workers: keep workers alive between epochs.
        collate_fn: custom collate function.
        scale: make ``"lr"`` from ``"hr"`` at this factor on the device.
        degradation: the ``Data.degradation`` model and its parameters
            (:data:`gan_engine.degradations`; default ``classic``).
        seed: seed of the training order; the training loader is a torchdata
            ``StatefulDataLoader``, so a mid-epoch resume continues where it stopped.

    Example:
        >>> dm = from_datasets(my_train_set, my_val_set, batch_size=16)  # doctest: +SKIP
        >>> ge.fit(cfg, datamodule=dm)  # doctest: +SKIP
    """
    dm = GanDataModule(batch_size, val_batch_size, num_workers, pin_memory, persistent_workers, collate_fn, seed)
    dm.train_set, dm.val_set, dm.test_set = train, val, test
    if scale is not None:
        dm.degradation = build_degradation(scale, degradation)
    return dm


def _check(tensors: Mapping[str, Tensor], what: str) -> int:
    if not tensors:
        raise ShapeError(f"from_tensors needs at least one named tensor for {what}, e.g. lr=..., hr=...")
    sizes = {k: int(v.shape[0]) for k, v in tensors.items()}
    if len(set(sizes.values())) != 1:
        raise ShapeError(f"from_tensors: every {what} tensor needs the same number of samples (first "
                         f"dimension); got {sizes}")
    return next(iter(sizes.values()))


def _factors(tensors: Mapping[str, Tensor]) -> dict[str, int]:
    images = {k: v for k, v in tensors.items() if v.ndim == 4}
    if not images:
        return {}
    base = min(v.shape[-2] for v in images.values())
    return {k: v.shape[-2] // base for k, v in images.items()}


def from_tensors(*, val: Mapping[str, Tensor] | None = None, val_fraction: float = 0.1, batch_size: int = 8,
                 val_batch_size: int | None = None, crop_size: int | None = None, augment: bool = False,
                 scale: int | None = None, degradation: Mapping[str, Any] | None = None, seed: int = 0,
                 num_workers: int = 0, pin_memory: bool | None = None, **tensors: Tensor) -> GanDataModule:
    """A data module over named tensors, for notebooks.

    Name the tensors after the task's batch keys: ``lr=..., hr=...`` for super-resolution,
    ``cond=..., image=...`` for image-to-image, ``image=..., mask=...`` for inpainting,
    ``image=..., label=...`` for synthesis. Images are ``(N, C, H, W)``; labels ``(N,)``.

    Args:
        val: validation tensors with the same names; default: ``val_fraction`` of the
            samples, chosen by a seeded permutation.
        val_fraction: share of samples held out when ``val`` is not given (0: none).
        batch_size: training batch size.
        val_batch_size: validation batch size; default: ``batch_size``.
        crop_size: random training crops of this side on the coarsest image (validation:
            centred); ``None`` keeps whole images.
        augment: random flips and right-angle rotations during training.
        scale: with ``hr`` but no ``lr``, make ``lr`` on the device at this factor.
        degradation: the ``Data.degradation`` model and its parameters
            (:data:`gan_engine.degradations`; default ``classic``).
        seed: seed of the split, of the training order and of every random crop, flip and
            degradation.
        num_workers: data-loader worker processes.
        pin_memory: page-locked host memory; default: on when CUDA is available.
        **tensors: the training tensors (or all of them, when ``val`` is not given).

    Example:
        >>> hr = torch.rand(64, 4, 32, 32)
        >>> dm = from_tensors(hr=hr, scale=4)
        >>> dm.setup()
        >>> len(dm.train_set), len(dm.val_set)
        (58, 6)
    """
    n = _check(tensors, "training")
    if val is None and val_fraction > 0:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        n_val = max(1, round(n * val_fraction))
        val = {k: v[order[:n_val]] for k, v in tensors.items()}
        tensors = {k: v[order[n_val:]] for k, v in tensors.items()}
    factors = _factors(tensors)
    dm = GanDataModule(batch_size, val_batch_size, num_workers, pin_memory, seed=seed)
    extras: list[Extra] = []
    if scale is not None and "hr" in tensors and "lr" not in tensors:
        dm.degradation = build_degradation(scale, degradation)
        extras.append(DegradationExtra(dm.degradation))

    def dataset(split: Mapping[str, Tensor], train: bool) -> PatchDataset:
        return PatchDataset(TensorLoader(split), _check(split, "validation" if not train else "training"),
                            factors, crop_size, train=train, augment=augment, extras=extras, seed=seed)

    dm.train_set = dataset(tensors, True)
    dm.val_set = None if val is None else dataset(val, False)
    return dm
