"""Finding image files, checking them before training, and loading them as float tensors.

Checks run at ``setup()`` from the file headers (cheap: no pixels are decoded), so a wrong
band count, a file too small for the crop, an LR/HR pair that disagrees with the scale, or
an unreadable file stops the run before the first step, with one message that names every
offending file. Values (NaN) need the pixels: they are checked at ``setup()`` too when the
data are small enough (``check="auto"``), and always when a file is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from gan_engine.data.io import IMAGE_SUFFIXES, ImageInfo, ReadOptions, read_image, read_info
from gan_engine.errors import DataError

__all__ = ["CheckMode", "FileOptions", "check_values", "list_images", "load_tensor", "raise_problems", "read_infos"]

CheckMode = Literal["auto", "headers", "full"]
#: ``check="auto"`` decodes every file at setup when the folder holds at most this many bytes.
FULL_CHECK_BYTES = 256 * 2**20
_MAX_LISTED = 20
_INT_RANGE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.bool_): 1.0}


@dataclass(frozen=True)
class FileOptions:
    """How the files of one branch are read and what they must hold.

    Args:
        read: reader options.
        bands: band count the configuration expects (after ``band_indices``).
        band_indices: 0-based bands picked from each file, in order; ``None`` keeps all.
        value_scale: raw values are divided by this; ``None``: 255 for 8-bit and 65535
            for 16-bit integer files, 1 otherwise.
        nodata: value marking missing pixels (``nan`` allowed); ``None``: the value the
            file declares, if any. Missing pixels are set to 0 and masked out.
    """

    read: ReadOptions
    bands: int
    band_indices: tuple[int, ...] | None = None
    value_scale: float | None = None
    nodata: float | None = None


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively, hidden files skipped), sorted."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; check Data.root")
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not found:
        raise DataError(f"{folder}: no image files found; supported suffixes: {', '.join(sorted(IMAGE_SUFFIXES))}")
    return found


def raise_problems(problems: Sequence[str], where: str) -> None:
    """Raise one :class:`DataError` listing ``problems`` (each names its file), if any."""
    if not problems:
        return
    listed = [f"  - {p}" for p in problems[:_MAX_LISTED]]
    if len(problems) > _MAX_LISTED:
        listed.append(f"  ... and {len(problems) - _MAX_LISTED} more")
    head = f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in {where}, found before training:"
    raise DataError("\n".join([head, *listed]))


def _band_problem(info: ImageInfo, opts: FileOptions) -> str | None:
    if opts.band_indices is not None:
        if max(opts.band_indices) >= info.bands:
            return (f"{info.path}: has {info.bands} bands, but Data.band_indices asks for band "
                    f"{max(opts.band_indices)} (0-based)")
        return None
    if info.bands != opts.bands:
        return (f"{info.path}: has {info.bands} band{'s' if info.bands != 1 else ''} but the configuration expects "
                f"{opts.bands} (Data.bands); set Data.bands: {info.bands}, or pick bands with Data.band_indices")
    return None


def read_infos(paths: Iterable[Path], opts: FileOptions, problems: list[str]) -> dict[Path, ImageInfo]:
    """Headers of ``paths``; unreadable files and wrong band counts go to ``problems``."""
    infos = {}
    for path in paths:
        try:
            info = read_info(path, opts.read)
        except DataError as exc:
            problems.append(str(exc))
            continue
        issue = _band_problem(info, opts)
        if issue:
            problems.append(issue)
        else:
            infos[path] = info
    return infos


def _scale_of(dtype: np.dtype, opts: FileOptions) -> float:
    if opts.value_scale is not None:
        return opts.value_scale
    return _INT_RANGE.get(dtype, 1.0)


def load_tensor(path: Path, opts: FileOptions, file_nodata: float | None = None) -> tuple[Tensor, Tensor | None]:
    """Read ``path`` as a float32 ``(C, H, W)`` tensor and, with a no-data value, a validity mask.

    Returns:
        ``(image, valid)``: ``valid`` is ``(1, H, W)`` with 0 where any band is missing
        (those pixels are set to 0 in ``image``), or ``None`` without a no-data value.

    Raises:
        DataError: naming the file when it holds NaN and no no-data value is declared.
    """
    raw = read_image(path, opts.read)
    if opts.band_indices is not None:
        raw = raw[list(opts.band_indices)]
    image = torch.from_numpy(np.ascontiguousarray(raw).astype(np.float32, copy=False))
    nodata = opts.nodata if opts.nodata is not None else file_nodata
    if nodata is None:
        if torch.isnan(image).any():
            count = int(torch.isnan(image).any(dim=0).sum())
            raise DataError(f"{path}: {count} pixels hold NaN values; declare them missing with "
                            "'Data.nodata: .nan' (they are then masked out), or clean the file")
        return image / _scale_of(raw.dtype, opts), None
    missing = torch.isnan(image) if np.isnan(nodata) else (image == nodata) | torch.isnan(image)
    invalid = missing.any(dim=0, keepdim=True)
    image = torch.where(invalid, torch.zeros(()), image) / _scale_of(raw.dtype, opts)
    return image, (~invalid).float()


def check_values(infos: dict[Path, ImageInfo], opts: FileOptions, mode: CheckMode, problems: list[str]) -> None:
    """Decode every file and report NaN values, when ``mode`` asks for it (or ``auto`` and small)."""
    if mode == "headers" or (mode == "auto" and sum(p.stat().st_size for p in infos) > FULL_CHECK_BYTES):
        return
    for path, info in infos.items():
        try:
            load_tensor(path, opts, info.nodata)
        except DataError as exc:
            problems.append(str(exc))
