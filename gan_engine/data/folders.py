"""Shared pieces of the folder data modules: splits, loading records of files, common options."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from gan_engine.data.files import FileOptions, load_tensor
from gan_engine.data.io import ReaderName, ReadOptions
from gan_engine.errors import ConfigError, ConfigIssue

__all__ = ["SPLITS", "FileLoader", "file_options", "holdout", "split_folders"]

T = TypeVar("T")
SPLITS = ("train", "val", "test")


def split_folders(root: Path) -> dict[str, Path]:
    """``{split: folder}`` for the ``train``/``val``/``test`` subfolders of ``root`` that exist."""
    return {s: root / s for s in SPLITS if (root / s).is_dir()}


def holdout(items: Sequence[T], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Split ``items`` into ``(train, val)`` with a seeded permutation; ``val`` gets ``fraction`` (≥ 1 item)."""
    if fraction <= 0 or len(items) < 2:
        return list(items), []
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = min(len(items) - 1, max(1, round(len(items) * fraction)))
    return [items[i] for i in sorted(order[n_val:])], [items[i] for i in sorted(order[:n_val])]


def file_options(bands: int, band_indices: Sequence[int] | None, value_scale: float | None,
                 nodata: float | None, reader: ReaderName, array_key: str | None,
                 channels_last: bool) -> FileOptions:
    """Validated :class:`FileOptions` from data-module keywords."""
    issues = []
    if band_indices is not None and len(band_indices) != bands:
        issues.append(ConfigIssue("Data.band_indices", f"picks {len(band_indices)} bands but Data.bands is {bands}; "
                                  "make them agree"))
    if band_indices is not None and min(band_indices, default=0) < 0:
        issues.append(ConfigIssue("Data.band_indices", f"band indices are 0-based and ≥ 0, got {list(band_indices)}"))
    if value_scale is not None and value_scale <= 0:
        issues.append(ConfigIssue("Data.value_scale", f"must be > 0, got {value_scale}"))
    if reader not in ("auto", "pillow", "numpy", "rasterio"):
        issues.append(ConfigIssue("Data.reader", f"must be auto, pillow, numpy or rasterio, got {reader!r}"))
    if issues:
        raise ConfigError(issues)
    return FileOptions(ReadOptions(reader, array_key, channels_last), bands,
                       None if band_indices is None else tuple(band_indices), value_scale, nodata)


class FileLoader:
    """``load(index)`` for records ``{key: path}``: each file read as a float tensor.

    A ``"valid"`` mask is added for ``valid_key`` when a no-data value applies to it.
    Picklable, so it works with data-loader workers on every platform.

    With ``cache_bytes > 0`` the decoded tensors of a record are kept in memory the first
    time it is read, until they fill ``cache_bytes`` (then later records are read from disk
    each time; nothing is evicted). Each process keeps its own cache: every data-loader
    worker fills one, and a pickled loader (a worker being started) carries none. A random
    crop of a large photograph then costs a slice instead of a decode. Callers must not
    modify the returned tensors in place (:func:`~gan_engine.data.transforms.crop_item`
    copies its crops).
    """

    def __init__(self, records: Sequence[dict[str, Path]], options: dict[str, FileOptions],
                 nodata: dict[Path, float | None], valid_key: str, cache_bytes: int = 0) -> None:
        self.records, self.options, self.nodata, self.valid_key = list(records), options, nodata, valid_key
        self.cache_bytes = cache_bytes
        self._cache: dict[int, dict[str, Any]] = {}
        self._cached = 0

    def __len__(self) -> int:
        return len(self.records)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": {}, "_cached": 0}

    def __call__(self, index: int) -> dict[str, Any]:
        hit = self._cache.get(index)
        if hit is not None:
            return dict(hit)
        item: dict[str, Any] = {}
        for key, path in self.records[index].items():
            image, valid = load_tensor(path, self.options[key], self.nodata.get(path))
            item[key] = image
            if valid is not None and key == self.valid_key:
                item["valid"] = valid
        size = sum(v.element_size() * v.numel() for v in item.values() if isinstance(v, torch.Tensor))
        if self._cached + size <= self.cache_bytes:
            self._cache[index], self._cached = item, self._cached + size
            return dict(item)
        return item
