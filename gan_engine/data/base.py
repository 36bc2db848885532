"""The base of the built-in data modules: loaders, worker settings, on-device degradation."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Annotated, Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset
from typing_extensions import override

from gan_engine.components.degradations.base import Degradation
from gan_engine.data.datasets import DEGRADATION_KEY
from gan_engine.data.sampling import seeded_loader
from gan_engine.params import MultipleOf, NonNegativeInt, PositiveInt, Range, check_arguments

__all__ = ["CropSize", "GanDataModule", "HoldOut", "SceneSize"]

#: side of a crop on the target grid: whole low-resolution pixels at the data's ``scale``
CropSize = Annotated[int, Range(ge=1), MultipleOf("scale")]
#: share of the items held out for validation
HoldOut = Annotated[float, Range(ge=0, lt=1)]
#: side of a procedural scene
SceneSize = Annotated[int, Range(ge=8)]

Split = Dataset[Any]


class GanDataModule(L.LightningDataModule):
    """Train/val/test loaders over map-style data sets, plus the on-device degradation.

    Subclasses fill :attr:`train_set`, :attr:`val_set` and (optionally) :attr:`test_set`
    in :meth:`build`, which :meth:`setup` calls once. When :attr:`degradation` is set, a
    batch that holds ``"hr"`` but no ``"lr"`` gets its ``"lr"`` made on the device after
    the transfer, from the per-sample parameters the data set drew.

    Args:
        batch_size: training batch size.
        val_batch_size: validation/test batch size; default: ``batch_size``.
        num_workers: data-loader worker processes (0 loads in the main process).
        pin_memory: page-locked host memory for faster copies to the GPU; default: on
            when CUDA is available.
        persistent_workers: keep workers alive between epochs (only with workers).
        collate_fn: custom collate function for the loaders.
        seed: seed of the training order and of the per-sample randomness (crops, flips,
            degradations, masks); the training loader resumes mid-epoch exactly, with and
            without workers (:func:`~gan_engine.data.sampling.seeded_loader`).
    """

    def __init__(self, batch_size: PositiveInt = 8, val_batch_size: PositiveInt | None = None,
                 num_workers: NonNegativeInt = 0, pin_memory: bool | None = None, persistent_workers: bool = True,
                 collate_fn: Callable[[list[Any]], Any] | None = None, seed: NonNegativeInt = 0) -> None:
        super().__init__()
        check_arguments(GanDataModule, "Data", batch_size=batch_size, val_batch_size=val_batch_size,
                        num_workers=num_workers, seed=seed)
        self.batch_size, self.val_batch_size = batch_size, val_batch_size or batch_size
        self.num_workers, self.persistent_workers = num_workers, persistent_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.collate_fn, self.seed = collate_fn, seed
        self.degradation: Degradation | None = None
        self.train_set: Split | None = None
        self.val_set: Split | None = None
        self.test_set: Split | None = None
        self._built = False

    def build(self) -> None:
        """Create the data sets; the default keeps those given to the constructor."""

    @override
    def setup(self, stage: str | None = None) -> None:
        if not self._built:
            self.build()
            self._built = True

    def _loader(self, dataset: Split | None, split: str, train: bool) -> DataLoader[Any]:
        if dataset is None:
            self.setup()
            dataset = getattr(self, f"{split}_set")
        if dataset is None:
            raise ValueError(f"{type(self).__name__} has no {split} split")
        batch_size = self.batch_size if train else self.val_batch_size
        n = len(dataset)  # type: ignore[arg-type]
        if train and n < batch_size:
            warnings.warn(f"the training split has {n} samples, fewer than batch_size={batch_size}; "
                          "batches will be smaller", UserWarning, stacklevel=3)
        options: dict[str, Any] = dict(batch_size=batch_size, num_workers=self.num_workers, pin_memory=self.pin_memory,
                                       collate_fn=self.collate_fn,
                                       persistent_workers=self.persistent_workers and self.num_workers > 0)
        if train:
            return seeded_loader(dataset, self.seed, drop_last=n >= batch_size, **options)
        return DataLoader(dataset, **options)

    @override
    def train_dataloader(self) -> DataLoader[Any]:
        return self._loader(self.train_set, "train", train=True)

    @override
    def val_dataloader(self) -> DataLoader[Any]:
        return self._loader(self.val_set, "val", train=False)

    @override
    def test_dataloader(self) -> DataLoader[Any]:
        return self._loader(self.test_set or self.val_set, "test" if self.test_set else "val", train=False)

    @override
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.degradation is not None and isinstance(batch, dict) and "hr" in batch and "lr" not in batch:
            params = batch.pop(DEGRADATION_KEY, None)
            batch["lr"] = self.degradation(batch["hr"], params)
        return batch

    @override
    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Take the degradation's batch-level decisions on the CPU, before the copy (no host sync)."""
        if self.degradation is not None and isinstance(batch, dict) and DEGRADATION_KEY in batch:
            batch[DEGRADATION_KEY] = self.degradation.plan(batch[DEGRADATION_KEY])
        return batch
