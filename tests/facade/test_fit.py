"""End-to-end: tiny fits through ge.fit produce a complete run directory, resume, lock and fail cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

import gan_engine as ge
from gan_engine.data.synthetic import SyntheticSRDataModule
from tests.facade.conftest import tiny_overrides


def _record(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run.json").read_text())


def test_fit_writes_a_complete_run_directory(tmp_path: Path) -> None:
    result = ge.fit(None, overrides=tiny_overrides(tmp_path, extra={"Callbacks.periodic.every_n_steps": 2}))
    run = result.run_dir
    assert run.parent == tmp_path / "runs" and run.name.startswith("quickstart-")
    assert ge.load_config(run / "config.yaml").Training.max_steps == 4
    record = _record(run)
    assert record["status"] == "completed" and record["iteration"] == 4 and record["error"] is None
    assert {"val/psnr", "val/ssim", "val/psnr_bicubic", "val/ssim_bicubic"} <= set(record["metrics"])
    assert result.metrics["val/psnr"] == pytest.approx(record["metrics"]["val/psnr"])
    records = json.loads((run / "metrics.json").read_text())
    assert [r["iteration"] for r in records] == [2, 4]  # one per validation (each epoch is 2 batches)
    assert all("val/psnr" in r for r in records)
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    # periodic snapshots count iterations (Lightning's global_step is 8 here: two optimizers)
    assert ckpts == ["best-iter=0000002.ckpt", "iter-0000002.ckpt", "iter-0000004.ckpt", "last.ckpt"] or \
        ckpts == ["best-iter=0000004.ckpt", "iter-0000002.ckpt", "iter-0000004.ckpt", "last.ckpt"]
    assert result.last_checkpoint == run / "checkpoints" / "last.ckpt"
    assert result.best_checkpoint is not None and result.best_checkpoint.name.startswith("best-iter=")
    assert sorted(p.name for p in (run / "images").iterdir()) == [
        "train-iter0000002.png", "train-iter0000004.png", "val-iter0000002.png", "val-iter0000004.png"]
    log = (run / "logs" / "training.log").read_text()
    assert "validation at iteration 4" in log and "generator: SRResNet" in log and "run completed" in log
    assert (run / "logs" / "csv" / "version_0" / "metrics.csv").is_file()
    assert not (run / ".lock").exists()
    assert isinstance(result.module, ge.GANModule) and isinstance(result.trainer, L.Trainer)
    assert result.module.iteration == 4


def test_resume_continues_the_latest_run_in_the_same_directory(tmp_path: Path) -> None:
    first = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=2))
    second = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=4), resume=True)
    assert second.run_dir == first.run_dir
    assert second.module is not None and second.module.iteration == 4
    record = _record(second.run_dir)
    assert record["status"] == "completed" and len(record["sessions"]) == 2
    assert record["sessions"][1]["resumed_from"].endswith("last.ckpt")
    assert [r["iteration"] for r in json.loads((second.run_dir / "metrics.json").read_text())] == [2, 4]
    assert ge.load_config(second.run_dir / "config.yaml").Training.max_steps == 4  # the config it ran with


def test_a_checkpoint_path_resumes_exactly_from_that_file(tmp_path: Path) -> None:
    first = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=2))
    assert first.last_checkpoint is not None
    again = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=3), ckpt_path=first.last_checkpoint)
    assert again.run_dir == first.run_dir and again.module is not None and again.module.iteration == 3


def test_a_run_directory_in_use_is_refused_fast(tmp_path: Path) -> None:
    first = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=2))
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (first.run_dir / ".lock").write_text(json.dumps({"pid": holder.pid, "host": None}))
        with pytest.raises(ge.RunLockedError, match=f"in use by process {holder.pid}"):
            ge.fit(None, overrides=tiny_overrides(tmp_path, steps=4), resume=True)
        assert _record(first.run_dir)["status"] == "completed"  # untouched
    finally:
        holder.kill()
        holder.wait()


class _Boom(L.Callback):
    def __init__(self, at: int, exc: BaseException) -> None:
        self.at, self.exc = at, exc

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, idx: int) -> None:
        if pl_module.iteration == self.at:
            raise self.exc


def test_a_failure_is_recorded_and_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    boom = _Boom(1, RuntimeError("disk on fire"))
    monkeypatch.setattr(ge.api, "build_callbacks", _with(ge.api.build_callbacks, boom))
    with pytest.raises(RuntimeError, match="disk on fire"):
        ge.fit(None, overrides=tiny_overrides(tmp_path))
    (run_dir,) = (tmp_path / "runs").iterdir()
    record = _record(run_dir)
    assert record["status"] == "failed" and record["error"] == {"type": "RuntimeError", "message": "disk on fire"}
    assert not (run_dir / ".lock").exists()


def test_an_abort_mid_iteration_writes_nothing_and_the_run_resumes_from_the_previous_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt raised in the middle of the training (a second Ctrl-C) keeps the previous last.ckpt."""
    handler = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(ge.api, "build_callbacks", _with(ge.api.build_callbacks, _Boom(3, KeyboardInterrupt())))
    with pytest.raises(KeyboardInterrupt, match="iteration 3"):
        ge.fit(None, overrides=tiny_overrides(tmp_path, steps=6))
    assert signal.getsignal(signal.SIGINT) is handler  # Lightning's SIG_IGN is undone
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert _record(run_dir)["status"] == "interrupted"
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["gan_engine"]["iteration"] == 2  # written by the validation at iteration 2, not mid-iteration 3
    monkeypatch.undo()
    resumed = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=6), resume=True)
    assert resumed.run_dir == run_dir and resumed.module is not None and resumed.module.iteration == 6
    assert _record(run_dir)["sessions"][-1]["resumed_from"].endswith("last.ckpt")


def _with(build: Any, extra: L.Callback) -> Any:
    return lambda cfg, run: [*build(cfg, run), extra]


def test_a_users_datamodule_is_used(tmp_path: Path) -> None:
    class Counting(SyntheticSRDataModule):
        setups = 0

        def setup(self, stage: str | None = None) -> None:
            Counting.setups += 1
            super().setup(stage)

    dm = Counting(bands=4, hr_size=16, scale=4, batch_size=4, val_batch_size=4, train_size=8, val_size=4)
    result = ge.fit(None, dm, overrides=tiny_overrides(tmp_path, steps=2))
    assert Counting.setups >= 1 and result.metrics["val/psnr"] > 0


def test_tensorboard_keeps_the_images_and_wandb_names_its_extra(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    result = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=2, extra={"Logging.logger": "tensorboard"}))
    assert list((result.run_dir / "logs" / "tensorboard").rglob("events.out.tfevents.*"))
    assert not list((result.run_dir / "images").iterdir())  # panels went to TensorBoard
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if the optional extra were not installed
    with pytest.raises(ge.ConfigError, match=r"pip install 'gan_engine\[wandb\]'"):
        ge.fit(None, overrides=tiny_overrides(tmp_path / "w", extra={"Logging.logger": "wandb"}))
    assert not (tmp_path / "w").exists()  # refused before anything is written


def test_bad_input_is_refused_before_a_run_directory_exists(tmp_path: Path) -> None:
    with pytest.raises(ge.ConfigError, match=r"Training.max_stepz"):
        ge.fit(None, overrides=[*tiny_overrides(tmp_path), "Training.max_stepz=3"])
    with pytest.raises(ge.ConfigError, match=r"Logging.rgb_bands.*0..3"):
        ge.fit(None, overrides=[*tiny_overrides(tmp_path), "Logging.rgb_bands=[0,1,9]"])
    with pytest.raises(ge.CheckpointError, match="no checkpoint at"):
        ge.fit(None, overrides=tiny_overrides(tmp_path), ckpt_path=tmp_path / "missing.ckpt")
    assert not (tmp_path / "runs").exists()


def test_validate_evaluates_a_checkpoint_and_rejects_a_corrupt_one(tmp_path: Path) -> None:
    result = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=2))
    assert result.last_checkpoint is not None
    metrics = ge.validate(ge.load_config(None, tiny_overrides(tmp_path)), result.last_checkpoint)
    assert metrics["val/psnr"] == pytest.approx(result.metrics["val/psnr"], abs=1e-4)
    assert {"val/ssim", "val/psnr_bicubic", "val/ssim_bicubic"} <= set(metrics)
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(result.last_checkpoint.read_bytes()[:1000])
    with pytest.raises(ge.CheckpointError, match=r"broken.ckpt"):
        ge.validate(ge.load_config(None, tiny_overrides(tmp_path)), broken)


def test_a_failed_checkpoint_write_during_a_run_keeps_the_previous_last_ckpt(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    result = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=2))
    assert result.last_checkpoint is not None and result.trainer is not None
    before = result.last_checkpoint.read_bytes()

    def crash(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(ge.CheckpointError, match=r"no space left .*last\.ckpt at iteration 2 is intact"):
        result.trainer.save_checkpoint(result.last_checkpoint)
    monkeypatch.undo()
    assert result.last_checkpoint.read_bytes() == before
    assert sorted(p.name for p in result.last_checkpoint.parent.iterdir() if p.name.startswith("."))  == []


def test_last_ckpt_is_refreshed_even_when_the_metric_does_not_improve(tmp_path: Path) -> None:
    # the bicubic baseline is the same at every validation: only the first one is ever "best"
    extra = {"Callbacks.checkpoint.monitor": "val/psnr_bicubic"}
    result = ge.fit(None, overrides=tiny_overrides(tmp_path, extra=extra))
    assert result.best_checkpoint is not None and result.best_checkpoint.name == "best-iter=0000002.ckpt"
    assert result.last_checkpoint is not None
    assert torch.load(result.last_checkpoint, weights_only=False)["gan_engine"]["iteration"] == 4
