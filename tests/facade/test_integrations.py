"""Optional integrations, for real: GeoTIFFs through rasterio, a W&B run in offline mode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio  # the geo extra, in the dev extra: these tests run wherever the suite runs
import wandb

import gan_engine as ge
from gan_engine.data.io import read_image, read_info
from tests.facade.conftest import tiny_overrides


def _geotiff(path: Path, bands: int = 5, size: int = 24, nodata: float = 0.0) -> np.ndarray:
    from rasterio.transform import from_origin

    values = (np.arange(bands * size * size, dtype=np.uint16).reshape(bands, size, size) % 4000) + 1
    profile = {"driver": "GTiff", "count": bands, "height": size, "width": size, "dtype": "uint16",
               "crs": "EPSG:32633", "transform": from_origin(500000, 4500000, 10, 10), "nodata": nodata}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(values)
    return values


def test_a_geotiff_is_read_through_rasterio_with_its_bands_and_nodata(tmp_path: Path) -> None:
    values = _geotiff(tmp_path / "scene.tif")
    info = read_info(tmp_path / "scene.tif")
    assert (info.bands, info.height, info.width, info.nodata) == (5, 24, 24, 0.0)
    image = read_image(tmp_path / "scene.tif")
    assert image.shape == (5, 24, 24) and np.array_equal(np.asarray(image), values)


def test_an_image_folder_of_geotiffs_trains(tmp_path: Path) -> None:
    (tmp_path / "scenes").mkdir()
    for i in range(4):
        _geotiff(tmp_path / "scenes" / f"s{i}.tif")
    over = tiny_overrides(tmp_path, steps=2, extra={
        "Data.name": "image_folder", "Data.root": str(tmp_path / "scenes"), "Data.bands": 5, "Data.hr_size": 16,
        "Data.val_fraction": 0.25, "Data.batch_size": 2, "Data.val_batch_size": 1})
    over = [o for o in over if not o.startswith(("Data.train_size", "Data.val_size"))]
    result = ge.fit(None, overrides=over)
    assert result.module is not None and result.module.iteration == 2 and result.metrics["val/psnr"] > 0


def test_a_wandb_run_in_offline_mode_keeps_the_run_name_as_its_id(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")  # no network: the run is written to disk only
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    result = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=2, extra={"Logging.logger": "wandb",
                                                                             "Project.run_name": "offline-run"}))
    wandb.finish()
    runs = list((result.run_dir / "logs" / "wandb").glob("offline-run-*-offline-run"))
    assert len(runs) == 1, sorted(p.name for p in (result.run_dir / "logs").rglob("*"))[:20]
    assert json.loads((result.run_dir / "run.json").read_text())["status"] == "completed"
