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
    """

    def __init__(self, records: Sequence[dict[str, Path]], options: dict[str, FileOptions],
                 nodata: dict[Path, float | None], valid_key: str) -> None:
        self.records, self.options, self.nodata, self.valid_key = list(records), options, nodata, valid_key

    def __len__(self) -> int:
        return len(self.records)

    def __call__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {}
        for key, path in self.records[index].items():
            image, valid = load_tensor(path, self.options[key], self.nodata.get(path))
            item[key] = image
            if valid is not None and key == self.valid_key:
                item["valid"] = valid
        return item
