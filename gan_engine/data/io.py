"""Reading image files as ``(C, H, W)`` arrays, and reading their headers cheaply.

Formats: PNG, JPEG, BMP, WebP and TIFF through Pillow; multi-band NumPy stacks (``.npy``,
``.npz``); GeoTIFF and other rasters through rasterio (the optional ``geo`` extra). A
header read (:func:`read_info`) opens the file without decoding its pixels, so a data
module can check thousands of files before training starts.
"""

from __future__ import annotations

import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from gan_engine.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "ImageInfo", "ReadOptions", "read_image", "read_info"]

GEO_HINT = "install the optional 'geo' extra: pip install 'gan_engine[geo]'"
ReaderName = Literal["auto", "pillow", "numpy", "rasterio"]


@dataclass(frozen=True)
class ImageInfo:
    """What a header says about an image file (no pixels read)."""

    path: Path
    bands: int
    height: int
    width: int
    dtype: str
    nodata: float | None = None  #: the no-data value the file declares, if any


@dataclass(frozen=True)
class ReadOptions:
    """How files are read.

    Args:
        reader: ``"auto"`` (by suffix; TIFF through rasterio when it is installed, else
            Pillow), or force ``"pillow"``, ``"numpy"`` or ``"rasterio"``.
        array_key: array inside ``.npz`` files; default: the only one.
        channels_last: NumPy arrays are ``(H, W, C)`` rather than ``(C, H, W)``.
    """

    reader: ReaderName = "auto"
    array_key: str | None = None
    channels_last: bool = False


class _Reader(ABC):
    """Reads one family of formats: ``info`` from the header, ``read`` the pixels."""

    @abstractmethod
    def info(self, path: Path, opts: ReadOptions) -> ImageInfo:
        """The header of ``path``."""

    @abstractmethod
    def read(self, path: Path, opts: ReadOptions) -> np.ndarray:
        """The pixels of ``path`` as ``(C, H, W)``."""


class _Pillow(_Reader):
    _EXPAND: ClassVar[dict[str, str]] = {"P": "RGB", "PA": "RGBA", "1": "L"}

    def _open(self, path: Path) -> Any:
        from PIL import Image

        return Image.open(path)

    def info(self, path: Path, opts: ReadOptions) -> ImageInfo:
        with self._open(path) as im:
            mode = self._EXPAND.get(im.mode, im.mode)
            bands = len(mode) if mode in {"RGB", "RGBA", "LA", "CMYK", "YCbCr", "LAB", "HSV"} else 1
            return ImageInfo(path, bands, im.height, im.width, mode)

    def read(self, path: Path, opts: ReadOptions) -> np.ndarray:
        with self._open(path) as im:
            if im.mode in self._EXPAND:
                im = im.convert(self._EXPAND[im.mode])
            arr = np.asarray(im)
        return arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)


def _to_chw(shape: tuple[int, ...], opts: ReadOptions, path: Path) -> tuple[int, int, int]:
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        return (shape[2], shape[0], shape[1]) if opts.channels_last else (shape[0], shape[1], shape[2])
    raise DataError(f"{path}: expected a 2-D (H, W) or 3-D (C, H, W) array, got shape {shape}")


class _Numpy(_Reader):
    def _npz_key(self, path: Path, keys: list[str], opts: ReadOptions) -> str:
        if opts.array_key is not None:
            if opts.array_key not in keys:
                raise DataError(f"{path}: no array {opts.array_key!r} (Data.array_key); it holds {keys}")
            return opts.array_key
        if len(keys) != 1:
            raise DataError(f"{path}: holds several arrays {keys}; name the image with Data.array_key")
        return keys[0]

    def info(self, path: Path, opts: ReadOptions) -> ImageInfo:
        if path.suffix.lower() == ".npz":
            with zipfile.ZipFile(path) as zf:
                keys = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
                with zf.open(self._npz_key(path, keys, opts) + ".npy") as fh:
                    major, _ = np.lib.format.read_magic(fh)
                    read_header = np.lib.format.read_array_header_1_0 if major == 1 else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = read_header(fh)  # the header only, not the pixels
        else:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            shape, dtype = arr.shape, arr.dtype
        c, h, w = _to_chw(tuple(shape), opts, path)
        return ImageInfo(path, c, h, w, str(dtype))

    def read(self, path: Path, opts: ReadOptions) -> np.ndarray:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arr: np.ndarray = z[self._npz_key(path, list(z.keys()), opts)]
        else:
            arr = np.load(path, allow_pickle=False)
        if arr.ndim == 2:
            return arr[None]
        _to_chw(arr.shape, opts, path)
        return np.moveaxis(arr, -1, 0) if opts.channels_last else arr


def _rasterio() -> Any:
    try:
        import rasterio
    except ImportError as exc:
        raise DataError(f"reading GeoTIFF and other rasters needs rasterio, which is not installed; {GEO_HINT}, "
                        "or convert the files to .npy stacks") from exc
    return rasterio


class _Rasterio(_Reader):
    def info(self, path: Path, opts: ReadOptions) -> ImageInfo:
        with _rasterio().open(path) as ds:
            nodata = None if ds.nodata is None else float(ds.nodata)
            return ImageInfo(path, int(ds.count), int(ds.height), int(ds.width), str(ds.dtypes[0]), nodata)

    def read(self, path: Path, opts: ReadOptions) -> np.ndarray:
        with _rasterio().open(path) as ds:
            pixels: np.ndarray = np.asarray(ds.read())
        return pixels


class _Tiff(_Reader):
    """rasterio when installed (GeoTIFF, any band count), else Pillow (1 to 4 bands)."""

    def _pick(self) -> _Reader:
        try:
            import rasterio  # noqa: F401
        except ImportError:
            return _PILLOW
        return _RASTERIO

    def info(self, path: Path, opts: ReadOptions) -> ImageInfo:
        reader = self._pick()
        try:
            return reader.info(path, opts)
        except Exception as exc:
            if reader is _PILLOW:
                raise DataError(f"{path}: Pillow cannot read this TIFF ({exc}); multi-band and GeoTIFF files "
                                f"need rasterio: {GEO_HINT}") from exc
            raise

    def read(self, path: Path, opts: ReadOptions) -> np.ndarray:
        return self._pick().read(path, opts)


_PILLOW, _NUMPY, _RASTERIO, _TIFF = _Pillow(), _Numpy(), _Rasterio(), _Tiff()
_BY_SUFFIX: dict[str, _Reader] = {
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".bmp", ".webp"), _PILLOW),
    **dict.fromkeys((".tif", ".tiff"), _TIFF),
    **dict.fromkeys((".npy", ".npz"), _NUMPY),
    **dict.fromkeys((".jp2", ".img", ".vrt"), _RASTERIO),
}
_BY_NAME: dict[str, _Reader] = {"pillow": _PILLOW, "numpy": _NUMPY, "rasterio": _RASTERIO}
#: File suffixes a folder data module picks up.
IMAGE_SUFFIXES: frozenset[str] = frozenset(_BY_SUFFIX)


def _reader_for(path: Path, opts: ReadOptions) -> _Reader:
    if opts.reader != "auto":
        return _BY_NAME[opts.reader]
    reader = _BY_SUFFIX.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; supported: {', '.join(sorted(_BY_SUFFIX))}")
    return reader


def _guarded(fn: Callable[[Path, ReadOptions], Any], path: Path, opts: ReadOptions, what: str) -> Any:
    try:
        return fn(path, opts)
    except DataError as exc:
        msg = str(exc)
        raise DataError(msg if str(path) in msg else f"{path}: {msg}") from exc
    except Exception as exc:
        raise DataError(f"{path}: cannot {what} the file ({type(exc).__name__}: {exc}); check that it is a "
                        "complete, uncorrupted image, or remove it from the folder") from exc


def read_info(path: str | Path, opts: ReadOptions = ReadOptions()) -> ImageInfo:
    """Band count, size and dtype of an image file from its header.

    Raises:
        DataError: naming the file when it cannot be opened or is not an image.
    """
    path = Path(path)
    return _guarded(_reader_for(path, opts).info, path, opts, "open")  # type: ignore[no-any-return]


def read_image(path: str | Path, opts: ReadOptions = ReadOptions()) -> np.ndarray:
    """The pixels of an image file as a ``(C, H, W)`` array of its own dtype.

    Raises:
        DataError: naming the file when it cannot be decoded.
    """
    path = Path(path)
    return _guarded(_reader_for(path, opts).read, path, opts, "decode")  # type: ignore[no-any-return]
