"""Optional integrations, for real: GeoTIFFs through rasterio, W&B in offline mode, TensorBoard event files."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _wandb_records(path: Path) -> Iterator[Any]:
    """The protobuf records of an offline W&B run file (``run-<id>.wandb``, a LevelDB-style log).

    The file is a 7-byte header (``:W&B``, magic 0xBEE1, version) and 32 KiB blocks of chunks,
    each with a 7-byte header (CRC, length, type: 1 whole, 2 first, 3 middle, 4 last). A
    zero header is padding up to the next block (the rest of a block at a flush), skipped.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    ident, magic, _version = struct.unpack("<4sHB", data[:7])
    assert (ident, magic) == (b":W&B", 0xBEE1), "not a W&B run file"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # too little room for a chunk header: the block is padded
            pos += 32768 - pos % 32768
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:  # zeros: the writer padded the rest of the block at a flush; records go on in the next
            pos += 32768 - pos % 32768
            continue
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def _wandb_run(run_file: Path) -> dict[str, Any]:
    """What an offline W&B run recorded: its id, config, and every history row (keys joined with '/')."""
    out: dict[str, Any] = {"history": [], "config": {}}
    for record in _wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["id"] = record.run.run_id
        elif kind == "exit":
            out["exited"] = True
        elif kind == "config":
            out["config"].update({u.key: json.loads(u.value_json) for u in record.config.update})
        elif kind == "history":
            out["history"].append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json)
                                   for i in record.history.item})
    return out


def _wandb_run_written(run_file: Path, timeout_s: float = 30.0) -> dict[str, Any]:
    """:func:`_wandb_run` once W&B's writer (another process, asynchronous) has written the exit record."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = _wandb_run(run_file)
        if run.get("exited") or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def test_wandb_receives_scalars_images_histograms_and_the_config_and_a_resume_continues_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONFIG_DIR": str(tmp_path / "cfg"),
                       "WANDB_CACHE_DIR": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(key, value)
    extra = {"Logging.logger": "wandb", "Project.run_name": "wb", "Logging.log_parameters": True,
             "Logging.log_images_every_n_steps": 2}
    first = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=4, extra=extra))
    wandb.finish()
    second = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=6, extra=extra), resume=True)
    wandb.finish()
    assert first.run_dir == second.run_dir and second.module is not None and second.module.iteration == 6
    files = sorted((first.run_dir / "logs" / "wandb").glob("offline-run-*-wb/run-wb.wandb"))
    assert len(files) == 2  # one offline file per session, both of W&B run "wb" (synced as one run)
    runs = [_wandb_run_written(f) for f in files]
    assert [r.get("id") for r in runs] == ["wb", "wb"]
    config = runs[0]["config"]["cfg"]
    assert config["Training"]["max_steps"] == 4 and config["Logging"]["logger"] == "wandb"
    rows = runs[0]["history"]
    scalars = {k for r in rows for k in r}
    assert {"train/content/l1", "train/g_total", "train/d_adversarial", "val/psnr", "val/psnr_bicubic"} <= scalars
    images = [r for r in rows if "images/val/filenames" in r]
    assert images and all(r["images/val/count"] >= 1 for r in images)
    media = files[0].parent / "files"
    assert all((media / name).is_file() for r in images for name in r["images/val/filenames"])
    histograms = [r for r in rows if r.get("weights/generator/_type") == "histogram"]
    assert histograms and len(histograms[0]["weights/generator/values"]) == len(
        histograms[0]["weights/generator/bins"]) - 1
    steps = [[r.get("trainer/global_step") for r in run["history"] if "train/g_total" in r] for run in runs]
    assert steps[0] and steps[1] and min(steps[1]) > max(steps[0])  # the second session continues the count


def test_tensorboard_receives_scalars_images_and_histograms(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=4, extra={
        "Logging.logger": "tensorboard", "Logging.log_parameters": True, "Logging.log_images_every_n_steps": 2}))
    (events,) = {p.parent for p in (result.run_dir / "logs" / "tensorboard").rglob("events.out.tfevents.*")}
    acc = EventAccumulator(str(events), size_guidance={"scalars": 0, "images": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"train/content/l1", "train/g_total", "val/psnr", "val/psnr_bicubic"} <= set(tags["scalars"])
    psnr = acc.Scalars("val/psnr")
    history = json.loads((result.run_dir / "metrics.json").read_text())
    assert [round(e.value, 5) for e in psnr] == [round(r["val/psnr"], 5) for r in history]
    assert tags["images"] and tags["histograms"]
    assert any("generator" in t for t in tags["histograms"])
