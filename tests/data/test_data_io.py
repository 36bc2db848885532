"""Reading image files and headers: formats, layouts, and the errors users meet."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_engine.data.io import ReadOptions, read_image, read_info
from gan_engine.errors import DataError


def _png(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


@pytest.mark.parametrize(("shape", "bands"), [((20, 24), 1), ((20, 24, 3), 3), ((20, 24, 4), 4)])
def test_png_header_and_pixels_agree(tmp_path: Path, shape: tuple[int, ...], bands: int) -> None:
    arr = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    path = _png(tmp_path / "a.png", arr)
    info = read_info(path)
    assert (info.bands, info.height, info.width) == (bands, 20, 24)
    pixels = read_image(path)
    assert pixels.shape == (bands, 20, 24) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0))


def test_sixteen_bit_png_keeps_its_range(tmp_path: Path) -> None:
    arr = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 200).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    pixels = read_image(path)
    assert pixels.dtype == np.uint16 and int(pixels.max()) == int(arr.max())


def test_float_tiff_through_pillow(tmp_path: Path) -> None:
    arr = np.random.default_rng(1).random((12, 10)).astype(np.float32)
    path = tmp_path / "band.tif"
    Image.fromarray(arr, mode="F").save(path)
    assert read_info(path).bands == 1
    np.testing.assert_allclose(read_image(path)[0], arr)


def test_npy_channels_first_last_and_2d(tmp_path: Path) -> None:
    stack = np.random.default_rng(2).random((6, 9, 11)).astype(np.float32)
    np.save(tmp_path / "first.npy", stack)
    np.save(tmp_path / "last.npy", np.moveaxis(stack, 0, -1))
    np.save(tmp_path / "flat.npy", stack[0])
    info = read_info(tmp_path / "first.npy")
    assert (info.bands, info.height, info.width) == (6, 9, 11)
    last = ReadOptions(channels_last=True)
    assert read_info(tmp_path / "last.npy", last).bands == 6
    np.testing.assert_array_equal(read_image(tmp_path / "last.npy", last), stack)
    assert read_image(tmp_path / "flat.npy").shape == (1, 9, 11)


def test_npz_single_array_and_named_array(tmp_path: Path) -> None:
    stack = np.ones((5, 8, 8), dtype=np.float32)
    np.savez(tmp_path / "one.npz", stack)
    np.savez(tmp_path / "two.npz", image=stack, extra=stack[:2])
    assert read_info(tmp_path / "one.npz").bands == 5
    with pytest.raises(DataError, match=r"two\.npz: holds several arrays .*Data\.array_key"):
        read_info(tmp_path / "two.npz")
    info = read_info(tmp_path / "two.npz", ReadOptions(array_key="extra"))
    assert info.bands == 2
    assert read_image(tmp_path / "two.npz", ReadOptions(array_key="image")).shape == (5, 8, 8)


def test_corrupt_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"broken\.png: cannot open the file"):
        read_info(path)


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(DataError, match=r"notes\.txt: unsupported file type '\.txt'"):
        read_info(path)


def test_unreadable_tiff_points_to_the_geo_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rasterio", None)  # as if not installed
    path = tmp_path / "scene.tif"
    path.write_bytes(b"II*\x00garbage")
    with pytest.raises(DataError, match=r"scene\.tif: Pillow cannot read .*pip install 'gan_engine\[geo\]'"):
        read_info(path)


def test_forcing_rasterio_without_it_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rasterio", None)
    path = _png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match=r"a\.png: .*needs rasterio.*pip install 'gan_engine\[geo\]'"):
        read_info(path, ReadOptions(reader="rasterio"))


