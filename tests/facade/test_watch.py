"""Following a live run: ``progress.json`` and ``gan-engine watch``, against real training processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import gan_engine as ge
from gan_engine.cli import main
from gan_engine.run.watch import follow
from tests.facade.conftest import tiny_overrides

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _train(root: Path, name: str, steps: int) -> subprocess.Popen[str]:
    overrides = tiny_overrides(root, steps=steps, extra={
        "Project.run_name": name, "Data.train_size": 32, "Logging.log_every_n_steps": 5,
        "Logging.log_images_every_n_steps": 0})
    return subprocess.Popen([sys.executable, "-m", "gan_engine.train", "--config",
                             str(ROOT / "examples/configs/quickstart.yaml"), *overrides],
                            env=ENV, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_watch_follows_a_training_process_to_its_end_and_exits_0(tmp_path: Path) -> None:
    training = _train(tmp_path, "live", steps=30)
    try:
        watch = subprocess.run([sys.executable, "-m", "gan_engine", "watch", str(tmp_path / "runs" / "live"),
                                "--json", "--interval", "0.2"], env=ENV, capture_output=True, text=True, timeout=240)
    finally:
        training.wait(timeout=240)
    assert training.returncode == 0, training.stderr.read()[-3000:] if training.stderr else ""
    assert watch.returncode == 0, watch.stderr[-3000:]
    events = [json.loads(line) for line in watch.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "status" and events[-1]["status"] == "completed"
    assert "running" in [e["status"] for e in events if e["event"] == "status"]
    progress = [e for e in events if e["event"] == "progress"]
    iterations = [e["iteration"] for e in progress]
    assert iterations == sorted(iterations) and iterations[-1] == 30 and len(set(iterations)) >= 2
    assert all(e["max_steps"] == 30 for e in progress) and progress[-1]["eta_s"] == 0.0
    assert progress[-1]["iterations_per_s"] > 0 and "train/g_total" in progress[-1]["train"]
    history = json.loads((tmp_path / "runs" / "live" / "metrics.json").read_text())
    validations = [e for e in events if e["event"] == "validation"]
    assert [v["iteration"] for v in validations] == [r["iteration"] for r in history] == [8, 16, 24, 30]
    assert validations[-1]["val/psnr"] == history[-1]["val/psnr"]
    assert any(e["event"] == "checkpoint" and e["path"].endswith("last.ckpt") for e in events)


def test_a_killed_run_is_reported_killed_and_watch_exits_1(tmp_path: Path) -> None:
    training = _train(tmp_path, "doomed", steps=100_000)
    try:
        events = follow(tmp_path / "runs" / "doomed", interval=0.2, wait=120)
        for event in events:
            if event["event"] == "progress":  # training is under way: kill it as an OOM killer would
                os.kill(training.pid, signal.SIGKILL)
                break
        training.wait(timeout=60)
        rest = list(events)
    finally:
        if training.poll() is None:
            training.kill()
    assert rest[-1] == {"event": "status", "status": "killed"}
    assert ge.list_runs(tmp_path / "runs")[0].status == "killed"
    assert main(["watch", str(tmp_path / "runs" / "doomed"), "--interval", "0.1"]) == 1


def test_watching_a_folder_where_no_run_appears_is_an_error_after_the_wait(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", str(tmp_path / "nothing"), "--wait", "0.3", "--interval", "0.1"]) == 2
    assert "holds no run (no run.json) after 0.3 s" in capsys.readouterr().err
