"""Predicting files: read in windows, blend tiles strip by strip, write in windows, publish by renaming.

Inputs: PNG, JPEG, BMP, WebP and TIFF (Pillow), ``.npy`` / ``.npz`` stacks ``(C, H, W)``, and
GeoTIFF or any raster rasterio opens. GeoTIFF and ``.npy`` inputs are read tile by tile; the
blended output of one strip of tile rows is kept in memory and every row that no later tile
touches is written at once (GeoTIFF and ``.npy`` outputs, window by window), so a scene larger
than memory never sits in memory whole: memory follows the tile size and the scene's width.

Values are converted to the data units the model was trained in (``Data.value_scale``, else
255 for 8-bit and 65535 for 16-bit files) and back: integer outputs are rounded and clipped to
their dtype. A GeoTIFF output keeps the CRS, band descriptions and no-data value, with the
pixel size divided by the scale; output pixels whose input pixel was no-data are no-data.

Every input is checked (readable, band count) before anything is written, and an output is
written under a temporary name and renamed when complete: a failed prediction never leaves
a file that looks finished.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from gan_engine.data.files import list_images
from gan_engine.data.io import IMAGE_SUFFIXES, ImageInfo, read_image, read_info
from gan_engine.errors import DataError, ShapeError
from gan_engine.tiling import progress_bar, run_tiled

if TYPE_CHECKING:
    from gan_engine.predictor import Predictor

__all__ = ["predict_file", "predict_files", "predict_folder"]

_INT_RANGE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_ROWS_PER_WRITE = 256


def _is_raster(path: Path) -> bool:
    """GeoTIFF and other rasters go through rasterio when it is installed."""
    if path.suffix.lower() not in (".tif", ".tiff", ".jp2", ".img", ".vrt"):
        return False
    try:
        import rasterio  # noqa: F401
    except ImportError:
        return path.suffix.lower() not in (".tif", ".tiff")
    return True


@dataclass
class _Source:
    """An input file opened for windowed reads of ``(C, h, w)`` float32 tiles in data units."""

    path: Path
    info: ImageInfo
    dtype: np.dtype
    given_scale: float | None
    read_window: Callable[[int, int, int, int], np.ndarray]
    profile: dict[str, Any] | None = None  # rasterio profile, tags and descriptions of a raster input

    @property
    def value_scale(self) -> float:
        """Raw values per data unit: as given, else by dtype (255, 65535, 1)."""
        return self.given_scale or _INT_RANGE.get(self.dtype, 1.0)

    def tile(self, top: int, left: int, height: int, width: int) -> dict[str, Tensor]:
        raw = self.read_window(top, left, height, width)
        data = raw.astype(np.float32) / self.value_scale
        if self.info.nodata is not None:
            data = np.where(_missing(raw, self.info.nodata), 0.0, data).astype(np.float32)
        return {"x": torch.from_numpy(np.ascontiguousarray(data))}


def _missing(raw: np.ndarray, nodata: float) -> np.ndarray:
    return np.isnan(raw) if np.isnan(nodata) else raw == nodata


def _open_source(path: Path, value_scale: float | None) -> _Source:
    info = read_info(path)
    if _is_raster(path):
        import rasterio
        from rasterio.windows import Window

        with rasterio.open(path) as ds:
            profile = {"profile": dict(ds.profile), "descriptions": ds.descriptions, "tags": ds.tags()}

        def read_raster(top: int, left: int, h: int, w: int) -> np.ndarray:
            with rasterio.open(path) as ds:
                return np.asarray(ds.read(window=Window(left, top, w, h)))

        return _Source(path, info, np.dtype(info.dtype), value_scale, read_raster, profile)
    if path.suffix.lower() == ".npy":
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        arr = arr[None] if arr.ndim == 2 else arr
        return _Source(path, info, arr.dtype, value_scale,
                       lambda t, left, h, w: np.asarray(arr[:, t:t + h, left:left + w]))
    whole = read_image(path)  # formats without windowed reads are small enough to decode at once
    return _Source(path, info, whole.dtype, value_scale, lambda t, left, h, w: whole[:, t:t + h, left:left + w])


class _StripAccumulator:
    """Weighted tile sums for one strip of tile rows; rows no later tile can touch are emitted and forgotten.

    Tiles arrive row by row (:meth:`TileGrid.boxes`), so when a tile row starts at output row
    ``t``, every row above ``t`` is final. Memory: ``(C + 1) × strip × W`` floats, whatever the
    scene's height.
    """

    def __init__(self, channels: int, height: int, width: int, strip: int,
                 emit: Callable[[int, int, np.ndarray], None]) -> None:
        self.height, self.strip, self.emit, self.base = height, min(strip, height), emit, 0
        self.total = np.zeros((channels, self.strip, width), np.float32)
        self.weight = np.zeros((self.strip, width), np.float32)

    def add(self, top: int, left: int, values: Tensor, weights: Tensor) -> None:
        if top > self.base:
            self._advance(top)
        h, w = weights.shape
        rows = slice(top - self.base, top - self.base + h)
        self.total[:, rows, left:left + w] += (values * weights).numpy()
        self.weight[rows, left:left + w] += weights.numpy()

    def _advance(self, top: int) -> None:
        done = top - self.base
        self.emit(self.base, top, self.total[:, :done] / np.maximum(self.weight[:done], 1e-12))
        keep = self.strip - done
        self.total[:, :keep], self.weight[:keep] = self.total[:, done:], self.weight[done:]
        self.total[:, keep:], self.weight[keep:] = 0, 0
        self.base = top

    def finish(self) -> None:
        rows = self.height - self.base
        self.emit(self.base, self.height, self.total[:, :rows] / np.maximum(self.weight[:rows], 1e-12))


def _to_dtype(values: np.ndarray, dtype: np.dtype, value_scale: float) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values * value_scale), info.min, info.max).astype(dtype)
    return (values * value_scale).astype(dtype)


@contextmanager
def _published(dst: Path) -> Iterator[Path]:
    """A temporary path next to ``dst``, renamed to ``dst`` only when the block completes."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dst.stem}-", suffix=dst.suffix, dir=dst.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _masked(src: _Source, values: np.ndarray, start: int, stop: int, scale: int) -> np.ndarray:
    """Output rows with no-data where the input pixel under them was no-data."""
    nodata = src.info.nodata
    if nodata is None:
        return values
    top, bottom = start // scale, -(-stop // scale)
    raw = src.read_window(top, 0, bottom - top, src.info.width)
    missing = _missing(raw, nodata).any(axis=0).repeat(scale, 0).repeat(scale, 1)[start - top * scale:][: stop - start]
    return np.where(missing[None], np.float32(nodata / src.value_scale), values)


class _Sink(ABC):
    """Receives finished output rows in order, in the output dtype; ``close`` completes the file."""

    @abstractmethod
    def write(self, start: int, block: np.ndarray) -> None:
        """Store output rows ``[start, start + block.shape[1])``."""

    @abstractmethod
    def close(self) -> None:
        """Finish the file (also after a failure: it is then discarded)."""


class _RasterSink(_Sink):
    """A GeoTIFF written window by window; CRS, tags, descriptions and no-data from the input."""

    def __init__(self, src: _Source, tmp: Path, shape: tuple[int, int, int], scale: int) -> None:
        import rasterio

        assert src.profile is not None
        channels, height, width = shape
        profile = dict(src.profile["profile"])
        transform = profile.get("transform")
        profile.update(driver="GTiff", count=channels, height=height, width=width, dtype=src.dtype.name, tiled=False)
        if transform is not None:
            profile["transform"] = transform * transform.scale(1 / scale, 1 / scale)
        for key in ("blockxsize", "blockysize"):
            profile.pop(key, None)
        self.out = rasterio.open(tmp, "w", **profile)
        descriptions = src.profile["descriptions"]
        if len(descriptions) == channels:
            for i, text in enumerate(descriptions, start=1):
                if text:
                    self.out.set_band_description(i, text)
        self.out.update_tags(**src.profile["tags"])

    def write(self, start: int, block: np.ndarray) -> None:
        from rasterio.windows import Window

        self.out.write(block, window=Window(0, start, block.shape[2], block.shape[1]))

    def close(self) -> None:
        self.out.close()


class _NpySink(_Sink):
    """A ``.npy`` file written with plain seeks: rows of each band go straight to their place."""

    def __init__(self, tmp: Path, shape: tuple[int, int, int], dtype: np.dtype) -> None:
        self.fh, self.shape, self.dtype = open(tmp, "wb"), shape, dtype
        np.lib.format.write_array_header_1_0(self.fh, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                       "fortran_order": False, "shape": shape})
        self.offset = self.fh.tell()
        self.fh.truncate(self.offset + int(np.prod(shape)) * dtype.itemsize)

    def write(self, start: int, block: np.ndarray) -> None:
        _, height, width = self.shape
        for c, band in enumerate(np.ascontiguousarray(block)):
            self.fh.seek(self.offset + (c * height + start) * width * self.dtype.itemsize)
            self.fh.write(band.tobytes())

    def close(self) -> None:
        self.fh.close()


class _WholeSink(_Sink):
    """Formats written at once (PNG, JPEG, Pillow TIFF, ``.npz``): the rows are gathered first."""

    def __init__(self, dst: Path, tmp: Path, shape: tuple[int, int, int], dtype: np.dtype) -> None:
        channels = shape[0]
        if dst.suffix.lower() != ".npz" and (channels not in (1, 3, 4) or (dtype != np.uint8 and channels != 1)):
            raise DataError(f"{dst}: {channels} bands of {dtype} cannot be written as {dst.suffix}; write .npy, or "
                            "a GeoTIFF (pip install 'gan_engine[geo]')")
        self.dst, self.tmp, self.pixels = dst, tmp, np.empty(shape, dtype)
        self.complete = False

    def write(self, start: int, block: np.ndarray) -> None:
        self.pixels[:, start:start + block.shape[1]] = block
        self.complete = start + block.shape[1] == self.pixels.shape[1]

    def close(self) -> None:
        if not self.complete:
            return
        if self.dst.suffix.lower() == ".npz":
            with open(self.tmp, "wb") as fh:
                np.savez_compressed(fh, image=self.pixels)
            return
        from PIL import Image

        image = self.pixels[0] if self.pixels.shape[0] == 1 else np.moveaxis(self.pixels, 0, -1)
        fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}.get(self.dst.suffix.lower())
        Image.fromarray(image).save(self.tmp, format=fmt or self.dst.suffix.lstrip(".").upper())


def _sink(src: _Source, dst: Path, tmp: Path, shape: tuple[int, int, int], scale: int) -> _Sink:
    if dst.suffix.lower() in (".tif", ".tiff", ".jp2", ".img") and _is_raster(dst) and src.profile is not None:
        return _RasterSink(src, tmp, shape, scale)
    if dst.suffix.lower() == ".npy":
        return _NpySink(tmp, shape, src.dtype)
    return _WholeSink(dst, tmp, shape, src.dtype)


def _check(predictor: Predictor, path: Path) -> ImageInfo:
    """Readable and with the band count the model takes; raises naming the file."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; supported: "
                        f"{', '.join(sorted(IMAGE_SUFFIXES))}")
    if len(predictor.task.input_keys) != 1:
        raise DataError(f"file prediction takes one input image per file; this model needs "
                        f"{', '.join(predictor.task.input_keys)}: call predictor(image, mask=...) on arrays")
    info = read_info(path)
    expected = predictor.input_bands
    if info.bands != expected:
        raise ShapeError(f"{path}: has {info.bands} bands, but this model takes {expected} (the band count it was "
                         "trained on)")
    return info


def predict_file(predictor: Predictor, src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                 tile: int = 512, overlap: int | None = None, batch_size: int = 8, value_scale: float | None = None,
                 progress: bool = False) -> Path:
    """Predict one image file into ``dst`` (its suffix picks the format); returns ``dst``.

    Args:
        predictor: the model.
        src: the input file.
        dst: the output file; written under a temporary name, renamed when complete.
        tile: input pixels per tile side.
        overlap: input pixels shared by neighbouring tiles; default: from the receptive field.
        batch_size: tiles per forward pass.
        value_scale: raw file values per data unit; default: the run's ``Data.value_scale``, else
            255 for 8-bit, 65535 for 16-bit and 1 for float files.
        progress: show a progress bar over tiles.
    """
    src, dst = Path(src), Path(dst)
    _check(predictor, src)
    source = _open_source(src, value_scale if value_scale is not None else predictor.value_scale)
    h, w, s = source.info.height, source.info.width, predictor.scale
    grid = predictor.grid(h, w, tile, overlap)
    shape = (predictor.out_channels, h * s, w * s)
    key = predictor.task.input_keys[0]
    with _published(dst) as tmp:
        sink = _sink(source, dst, tmp, shape, s)
        try:
            def emit(start: int, stop: int, values: np.ndarray) -> None:
                sink.write(start, _to_dtype(_masked(source, values, start, stop, s), source.dtype, source.value_scale))

            acc = _StripAccumulator(shape[0], shape[1], shape[2], min(grid.tile, h) * s, emit)
            with progress_bar(len(grid), progress) as bar:
                run_tiled(lambda b: predictor.run({key: b["x"]}), source.tile, grid, acc, batch_size, bar.update)
            acc.finish()
        finally:
            sink.close()
    return dst


def predict_files(predictor: Predictor, sources: Iterable[str | os.PathLike[str]], output: str | os.PathLike[str],
                  **kwargs: Any) -> list[Path]:
    """Predict files and folders into the folder ``output`` (folders keep their layout); returns the outputs.

    Every input is checked first: a bad file stops the call before any output is written.
    """
    jobs: list[tuple[Path, Path]] = []
    for item in map(Path, sources):
        jobs += _folder_jobs(item, Path(output) / item.name) if item.is_dir() else [(item, Path(output) / item.name)]
    return _run_jobs(predictor, jobs, kwargs)


def _folder_jobs(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """``(input, output)`` for every image under ``src``, the output at the same relative path under ``dst``."""
    return [(p, dst / p.relative_to(src)) for p in list_images(src)]


def _run_jobs(predictor: Predictor, jobs: list[tuple[Path, Path]], kwargs: dict[str, Any]) -> list[Path]:
    """Check every input first (nothing is written if one is bad), then predict them in order."""
    for src, _ in jobs:
        _check(predictor, src)
    outputs = []
    with progress_bar(len(jobs), bool(kwargs.get("progress")) and len(jobs) > 1, unit="file") as bar:
        for src, dst in jobs:
            outputs.append(predict_file(predictor, src, dst, **kwargs))
            bar.update(1)
    return outputs


def predict_folder(predictor: Predictor, src: str | os.PathLike[str], dst: str | os.PathLike[str],
                   **kwargs: Any) -> list[Path]:
    """Predict every image under the folder ``src`` into ``dst``, keeping relative paths and suffixes."""
    return _run_jobs(predictor, _folder_jobs(Path(src), Path(dst)), kwargs)
