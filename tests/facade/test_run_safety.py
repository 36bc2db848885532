"""A refused resume, an unwritable output folder or a full disk: a clear error, and nothing saved is damaged."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch

import gan_engine as ge
from gan_engine.errors import CheckpointError, ConfigError
from tests.facade.conftest import tiny_overrides


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the hash of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _trained(tmp_path: Path, steps: int = 2) -> ge.FitResult:
    return ge.fit(None, overrides=tiny_overrides(tmp_path, steps=steps, extra={"Project.run_name": "base"}))


@pytest.mark.parametrize(("change", "named"), [
    ({"Generator.n_channels": 16}, "Generator.n_channels: 16 in the config, 8 in the checkpoint"),
    ({"Data.bands": 3}, "Generator.in_channels: 3 in the config, 4 in the checkpoint"),
    ({"Task.scale": 2, "Data.hr_size": 8}, "Task.scale: 2 in the config, 4 in the checkpoint"),
    ({"Discriminator.name": "patchgan"}, "Discriminator.name: 'patchgan' in the config, 'srgan' in the checkpoint"),
    ({"Optimizers.generator.name": "adamw"}, "Optimizers.generator.name: 'adamw' in the config, 'adam' in"),
], ids=["channels", "bands", "scale", "architecture", "optimizer"])
def test_an_incompatible_resume_names_each_key_and_leaves_the_run_untouched(
        tmp_path: Path, change: dict[str, Any], named: str) -> None:
    run_dir = _trained(tmp_path).run_dir
    before = _tree(run_dir)
    over = tiny_overrides(tmp_path, steps=4, extra={"Project.run_name": "base", **change})
    with pytest.raises(CheckpointError) as err:
        ge.fit(None, overrides=over, resume=True)
    assert named in str(err.value)
    assert _tree(run_dir) == before  # config.yaml, run.json and checkpoints byte-identical
    ge.load_config(run_dir / "config.yaml")  # the run's own config still describes its checkpoints
    ge.validate(run_dir / "config.yaml", run_dir / "checkpoints" / "last.ckpt")


def test_the_command_line_refuses_an_incompatible_resume_with_exit_2(tmp_path: Path) -> None:
    run_dir = _trained(tmp_path).run_dir
    before = _tree(run_dir)
    config = run_dir / "config.yaml"
    proc = subprocess.run([sys.executable, "-m", "gan_engine.train", "--config", str(config), "--resume",
                           "Generator.n_blocks=2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Generator.n_blocks: 2 in the config, 1 in the checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _tree(run_dir) == before


def test_a_compatible_change_resumes_and_continues_the_same_run(tmp_path: Path) -> None:
    run_dir = _trained(tmp_path).run_dir
    over = tiny_overrides(tmp_path, steps=4, extra={"Project.run_name": "base", "Optimizers.generator.lr": 1e-4})
    resumed = ge.fit(None, overrides=over, resume=True)
    record = json.loads((run_dir / "run.json").read_text())
    assert resumed.run_dir == run_dir and resumed.module.iteration == 4
    assert record["sessions"][-1]["resumed_from"].endswith("last.ckpt")


def test_validate_and_load_generator_check_a_given_config_against_the_checkpoint(tmp_path: Path) -> None:
    result = _trained(tmp_path)
    ckpt = result.last_checkpoint
    other = ge.load_config(None, overrides=tiny_overrides(tmp_path, extra={"Generator.n_channels": 12}))
    with pytest.raises(CheckpointError, match=r"Generator\.n_channels: 12 in the config, 8 in the checkpoint"):
        ge.validate(other, ckpt)
    with pytest.raises(CheckpointError, match=r"Generator\.n_channels: 12 in the config, 8 in the checkpoint"):
        ge.load_generator(ckpt, config=other)
    same = ge.load_generator(ckpt, config=result.run_dir / "config.yaml")
    assert sum(p.numel() for p in same.parameters()) > 0


def test_an_output_dir_that_is_a_file_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    target = tmp_path / "runs"
    target.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"Project\.output_dir: .*is a file, not a folder"):
        ge.fit(None, overrides=tiny_overrides(tmp_path))
    assert target.read_text() == "not a folder"


def _unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    return Path("/sys/kernel")  # permission bits do not bind root; sysfs refuses new files to everyone


def test_an_output_dir_that_cannot_be_written_is_refused_with_the_key(tmp_path: Path) -> None:
    folder = _unwritable_folder(tmp_path)
    over = tiny_overrides(tmp_path, extra={"Project.output_dir": str(folder / "runs")})
    with pytest.raises(ConfigError, match=r"Project\.output_dir: .* cannot be written"):
        ge.fit(None, overrides=over)
    proc = subprocess.run([sys.executable, "-m", "gan_engine.train", "--config", "examples/configs/quickstart.yaml",
                           f"Project.output_dir={folder / 'runs'}"], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).parents[2])
    assert proc.returncode == 2 and "Project.output_dir" in proc.stderr and "Traceback" not in proc.stderr


def test_a_full_disk_says_so_and_names_the_checkpoint_that_survived(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("gan_engine.components.callbacks.checkpoints")
    real_mkstemp = tempfile.mkstemp

    def full_disk_after_iteration_2(*args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, path = real_mkstemp(*args, **kwargs)
        folder = Path(kwargs.get("dir") or ".")
        if folder.name == "checkpoints" and any(folder.glob("iter-0000002.ckpt")):
            os.close(fd)
            fd = os.open("/dev/full", os.O_WRONLY)  # every write fails with ENOSPC, as on a full disk
        return fd, path

    monkeypatch.setattr(module.tempfile, "mkstemp", full_disk_after_iteration_2)
    over = tiny_overrides(tmp_path, steps=6, extra={"Callbacks.periodic.every_n_steps": 2,
                                                    "Trainer.check_val_every_n_epoch": 100, "Data.train_size": 32})
    with pytest.raises(CheckpointError, match=r"no space left on the device .*iter-0000002\.ckpt at iteration 2 is "
                                              "intact"):
        ge.fit(None, overrides=over)
    (run_dir,) = (tmp_path / "runs").iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed" and "no space left" in record["error"]["message"]
    assert "PytorchStreamWriter" not in record["error"]["message"] and "enforce fail" not in record["error"]["message"]
    assert torch.load(run_dir / "checkpoints" / "iter-0000002.ckpt", weights_only=True)["gan_engine"]["iteration"] == 2
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]  # no partial file left
