"""Predicting files: GeoTIFF georeferencing and no-data kept, values in the file's units, nothing half-written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from PIL import Image
from rasterio.transform import from_origin

import gan_engine as ge
from facade.conftest import tiny_overrides

ROOT = Path(__file__).resolve().parents[2]


def _train(root: Path, bands: int) -> ge.Predictor:
    result = ge.fit(None, overrides=[*tiny_overrides(root, steps=2), f"Data.bands={bands}", "Generator.n_blocks=2"])
    return ge.load_predictor(result.last_checkpoint, device="cpu")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def four_bands(tmp_path_factory: pytest.TempPathFactory) -> ge.Predictor:
    return _train(tmp_path_factory.mktemp("four"), 4)


@pytest.fixture(scope="module")
def three_bands(tmp_path_factory: pytest.TempPathFactory) -> ge.Predictor:
    return _train(tmp_path_factory.mktemp("three"), 3)


def _geotiff(path: Path, pixels: np.ndarray, nodata: float | None = None) -> None:
    profile = {"driver": "GTiff", "count": pixels.shape[0], "height": pixels.shape[1], "width": pixels.shape[2],
               "dtype": pixels.dtype.name, "crs": "EPSG:32633", "transform": from_origin(500000, 4100000, 10, 10),
               "nodata": nodata}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(pixels)
        for i in range(pixels.shape[0]):
            ds.set_band_description(i + 1, f"B{i + 2}")


def test_a_geotiff_keeps_crs_descriptions_and_nodata_with_the_pixel_size_divided(
        four_bands: ge.Predictor, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 65535, (4, 80, 72), dtype=np.uint16)
    raw[:, :3, :5] = 0  # a no-data corner
    _geotiff(tmp_path / "scene.tif", raw, nodata=0)
    out = four_bands.predict_file(tmp_path / "scene.tif", tmp_path / "out" / "scene_x4.tif", tile=48)
    with rasterio.open(out) as ds:
        assert (ds.count, ds.height, ds.width, ds.dtypes[0]) == (4, 320, 288, "uint16")
        assert ds.crs.to_epsg() == 32633 and ds.nodata == 0
        assert (ds.transform.a, ds.transform.e, ds.transform.c, ds.transform.f) == (2.5, -2.5, 500000, 4100000)
        assert ds.descriptions == ("B2", "B3", "B4", "B5")
        written = ds.read()
    assert (written[:, :12, :20] == 0).all()  # under the no-data input pixels
    # the values are those of the in-memory prediction in data units (65535 per unit for 16-bit), re-scaled
    data = np.where(raw == 0, 0, raw).astype(np.float32) / 65535
    expected = np.clip(np.rint(four_bands(data, tile=48) * 65535), 0, 65535)
    inside = ~(raw == 0).any(axis=0).repeat(4, 0).repeat(4, 1)  # every no-data input pixel, the corner and strays
    assert (written[:, ~inside] == 0).all()
    assert np.abs(written[:, inside].astype(np.int64) - expected[:, inside]).max() <= 1


def test_npy_stacks_are_read_and_written_in_windows_and_match_the_array_api(
        four_bands: ge.Predictor, tmp_path: Path) -> None:
    x = np.random.default_rng(1).random((4, 60, 100), dtype=np.float32)
    np.save(tmp_path / "stack.npy", x)
    out = four_bands.predict_file(tmp_path / "stack.npy", tmp_path / "stack_x4.npy", tile=48)
    written = np.load(out)
    assert written.shape == (4, 240, 400) and written.dtype == np.float32
    np.testing.assert_allclose(written, four_bands(x), atol=1e-4)  # tiled from disk ≈ untiled in memory
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no scratch files left


def test_png_folders_keep_their_layout_and_8_bit_values(three_bands: ge.Predictor, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    (tmp_path / "photos" / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        Image.fromarray(rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)).save(tmp_path / "photos" / name)
    outputs = three_bands.predict_folder(tmp_path / "photos", tmp_path / "sr")
    assert sorted(p.relative_to(tmp_path / "sr").as_posix() for p in outputs) == ["a.png", "sub/b.png"]
    image = np.asarray(Image.open(tmp_path / "sr" / "a.png"))
    assert image.shape == (48, 56, 3) and image.dtype == np.uint8


def test_a_bad_file_is_named_before_any_output_is_written(three_bands: ge.Predictor, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(tmp_path / "in" / "good.png")
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(tmp_path / "in" / "zgrey.png")
    with pytest.raises(ge.ShapeError, match=r"zgrey\.png: has 1 bands, but this model takes 3"):
        three_bands.predict_folder(tmp_path / "in", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ge.DataError, match=r"broken\.png"):
        three_bands.predict_file(tmp_path / "broken.png", tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()


def test_a_failure_mid_way_leaves_no_file_that_looks_complete(
        four_bands: ge.Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    np.save(tmp_path / "stack.npy", np.random.default_rng(3).random((4, 80, 80), dtype=np.float32))
    calls = {"n": 0}
    real_run = four_bands.run

    def failing(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real_run(inputs)

    monkeypatch.setattr(four_bands, "run", failing)
    with pytest.raises(RuntimeError, match="simulated"):
        four_bands.predict_file(tmp_path / "stack.npy", tmp_path / "stack_x4.npy", tile=48, batch_size=1)
    assert calls["n"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.npy"]  # neither the output nor scratch files


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gan_engine.predict", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_the_command_line_predicts_files_and_folders_and_exits_2_on_bad_input(tmp_path: Path) -> None:
    result = ge.fit(None, overrides=[*tiny_overrides(tmp_path, steps=2), "Data.bands=4", "Generator.n_blocks=1"])
    ckpt = str(result.last_checkpoint)
    (tmp_path / "scenes").mkdir()
    for name in ("a.npy", "b.npy"):
        np.save(tmp_path / "scenes" / name, np.random.default_rng(4).random((4, 20, 24), dtype=np.float32))
    _geotiff(tmp_path / "tile.tif", np.random.default_rng(5).integers(0, 4000, (4, 20, 20), dtype=np.uint16))
    done = _cli("--checkpoint", ckpt, str(tmp_path / "scenes"), str(tmp_path / "tile.tif"),
                "--output", str(tmp_path / "out"), "--tile", "16", "--batch-size", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.load(tmp_path / "out" / "scenes" / "a.npy").shape == (4, 80, 96)
    with rasterio.open(tmp_path / "out" / "tile.tif") as ds:
        assert (ds.count, ds.height, ds.width, ds.crs.to_epsg()) == (4, 80, 80, 32633)
    bad = _cli("--checkpoint", ckpt, str(tmp_path / "nowhere.png"), "--output", str(tmp_path / "out2"))
    assert bad.returncode == 2 and "no such file or folder" in bad.stderr and "Traceback" not in bad.stderr
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rgb.png")
    bands = _cli("--checkpoint", ckpt, str(tmp_path / "rgb.png"), "--output", str(tmp_path / "out3"))
    assert bands.returncode == 2 and "has 3 bands, but this model takes 4" in bands.stderr
    assert not (tmp_path / "out3").exists()
    nockpt = _cli("--checkpoint", str(tmp_path / "missing.ckpt"), str(tmp_path / "rgb.png"), "--output", "x")
    assert nockpt.returncode == 2 and "missing.ckpt" in nockpt.stderr
