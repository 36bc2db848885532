"""Component parameters are checked against their declared types and ranges when the config loads.

Each bad value below used to pass ``config check`` and fail later with a traceback and a
failed run directory; now it is one ``ConfigError`` naming the key, before anything exists.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pytest
from PIL import Image

import gan_engine as ge
from gan_engine.params import MultipleOf, PositiveInt, Range, check_arguments, check_value
from gan_engine.registry import isolated_registries

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("override", "message"), [
    ("Data.batch_size=0", "Data.batch_size: must be ≥ 1, got 0"),
    ("Data.hr_size=30", "Data.hr_size: is 30; it must be a multiple of scale (4)"),
    ("Data.num_workers=-3", "Data.num_workers: must be ≥ 0, got -3"),
    ("Generator.n_channels=0", "Generator.n_channels: must be ≥ 1, got 0"),
    ("Generator.n_blocks=-1", "Generator.n_blocks: must be ≥ 1, got -1"),
    ("Generator.n_blocks=2.5", "Generator.n_blocks: must be an integer, got 2.5"),
    ("Discriminator.base_channels=true", "Discriminator.base_channels: must be an integer, got True"),
    ("Optimizers.generator.lr=.inf", "Optimizers.generator.lr: must be a finite number > 0, got inf"),
    ("Losses.adversarial.weight=.nan", "Losses.adversarial.weight: must be a finite number ≥ 0, got nan"),
])
def test_a_value_outside_the_declared_range_is_refused_with_its_key(override: str, message: str) -> None:
    with pytest.raises(ge.ConfigError) as info:
        ge.load_config({}, overrides=[override])
    assert message in str(info.value)


def test_folder_modules_check_fractions_bands_and_choices() -> None:
    base = {"Data": {"name": "image_folder", "root": "somewhere"}}
    with pytest.raises(ge.ConfigError) as info:
        ge.load_config(base, overrides=["Data.val_fraction=1.5", "Data.band_indices=[0,-1,2]", "Data.mode=srr",
                                        "Data.value_scale=0"])
    text = str(info.value)
    assert "Data.val_fraction: must be ≥ 0 and < 1, got 1.5" in text
    assert "Data.band_indices: item 1 must be ≥ 0, got -1" in text
    assert "Data.mode: must be one of 'sr', 'inpainting', 'images'; got 'srr'" in text
    assert "Data.value_scale: must be > 0, got 0" in text


def test_config_check_reports_them_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("Data: {batch_size: 0}\nGenerator: {n_channels: 0}\n")
    proc = subprocess.run([sys.executable, "-m", "gan_engine", "config", "check", str(path)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert "Data.batch_size: must be ≥ 1" in proc.stderr and "Generator.n_channels: must be ≥ 1" in proc.stderr


def test_training_refuses_a_bad_parameter_before_the_run_directory_exists(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    with pytest.raises(ge.ConfigError, match=r"Data\.batch_size"):
        ge.fit({"Project": {"output_dir": str(runs)}, "Data": {"batch_size": 0}})
    assert not runs.exists()


def test_missing_or_bad_image_files_are_refused_before_the_run_directory_exists(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    cfg = {"Project": {"output_dir": str(runs)}, "Training": {"max_steps": 2, "pretrain_steps": 1},
           "Data": {"name": "image_folder", "root": str(tmp_path / "missing"), "hr_size": 16}}
    with pytest.raises(ge.DataError, match=r"no such folder; check Data\.root"):
        ge.fit(cfg)
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(images / f"ok{i}.png")
    (images / "broken.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / "tiny.png")
    cfg["Data"]["root"] = str(images)
    with pytest.raises(ge.DataError) as info:
        ge.fit(cfg)
    assert "broken.png" in str(info.value) and "tiny.png" in str(info.value)
    assert not runs.exists()


def test_a_plugin_component_declares_its_own_constraints() -> None:
    with isolated_registries():
        @ge.generators.register("constrained")
        class Constrained:
            def __init__(self, in_channels: PositiveInt = 3, out_channels: PositiveInt | None = None,
                         scale: PositiveInt = 4, patch: Annotated[int, Range(ge=8), MultipleOf("scale")] = 64,
                         mode: Literal["fast", "exact"] = "fast", gain: Annotated[float, Range(gt=0, le=2)] = 1.0):
                pass

        problems = dict(ge.generators.check_params("constrained", {"patch": 30, "mode": "fats", "gain": 2.5}))
        assert problems == {"patch": "is 30; it must be a multiple of scale (4), e.g. 28",
                            "mode": "must be one of 'fast', 'exact'; got 'fats'",
                            "gain": "must be > 0 and ≤ 2, got 2.5"}
        assert ge.generators.check_params("constrained", {"patch": 32, "mode": "exact", "gain": 2}) == []
        with pytest.raises(ge.RegistryError, match="must be a multiple of scale"):
            ge.generators.build("constrained", patch=30)


def test_check_value_reads_plain_annotations() -> None:
    assert check_value(3, int) is None and check_value(True, int) == "must be an integer, got True"
    assert check_value(3, float) is None and check_value("3", float) == "must be a number, got '3'"
    assert check_value(None, int | None) is None and check_value([1, 2], list[int]) is None
    assert check_value([0.1, "x"], list[float]) == "item 1 must be a number, got 'x'"
    assert check_value((1.0, 2.0), tuple[float, float]) is None
    assert check_value([1.0], tuple[float, float]) == "must be a list of 2 values, got 1"
    assert check_value(float("nan"), float | None) is None  # a no-data value may be NaN: no range declared
    assert check_value(object(), type) is None  # what it cannot judge is left to the component


def test_constructors_outside_a_config_use_the_same_rules() -> None:
    from gan_engine.data import GanDataModule

    with pytest.raises(ge.ConfigError, match=r"Data\.batch_size: must be ≥ 1, got 0"):
        GanDataModule(batch_size=0)

    def make(size: Annotated[int, Range(ge=1)] = 1) -> None:
        pass

    with pytest.raises(ge.ConfigError, match=r"Thing\.size: must be ≥ 1, got -2"):
        check_arguments(make, "Thing", size=-2)
