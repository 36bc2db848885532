"""``Project.exclusive``: one live run per project, with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gan_engine as ge
from gan_engine.run.session import project_lock_path
from tests.facade.conftest import tiny_overrides

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _command(root: Path, steps: int) -> list[str]:
    overrides = tiny_overrides(root, steps=steps, extra={"Project.name": "solo", "Project.exclusive": True,
                                                           "Logging.log_images_every_n_steps": 0})
    return [sys.executable, "-m", "gan_engine.train", "--config", str(ROOT / "examples/configs/quickstart.yaml"),
            *overrides]


def _wait_for_running(root: Path, timeout: float = 120.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in ge.list_runs(root / "runs")] if (root / "runs").is_dir() else []
        if runs and runs[0].status == "running" and runs[0].iteration is not None:
            return runs[0].run_dir
        time.sleep(0.2)
    raise AssertionError("the first run did not start")


def test_a_second_start_of_a_live_project_is_refused_naming_the_run_and_a_dead_ones_lock_is_taken_over(
        tmp_path: Path) -> None:
    first = subprocess.Popen(_command(tmp_path, steps=100_000), env=ENV, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        live_dir = _wait_for_running(tmp_path)
        owner = json.loads(project_lock_path(ge.load_config(None, {"Project.name": "solo",
                           "Project.output_dir": str(tmp_path / "runs")})).read_text())
        assert owner["pid"] == first.pid and owner["run_dir"] == str(live_dir)
        second = subprocess.run(_command(tmp_path, steps=2), env=ENV, cwd=tmp_path, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 2, second.stderr[-2000:]
        assert "Project.exclusive: project 'solo' already has a live run" in second.stderr
        assert str(live_dir) in second.stderr and f"process {first.pid}" in second.stderr
        assert [p.name for p in (tmp_path / "runs").iterdir() if p.is_dir()] == [live_dir.name]  # nothing made
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    # the first process died holding the project lock: the next start takes it over and trains
    third = subprocess.run(_command(tmp_path, steps=2), env=ENV, cwd=tmp_path, capture_output=True, text=True,
                           timeout=180)
    assert third.returncode == 0, third.stderr[-2000:]
    assert "taking over the stale lock" in third.stderr
    statuses = {r.run_dir: r.status for r in ge.list_runs(tmp_path / "runs")}
    assert statuses[live_dir] == "killed" and sorted(statuses.values()) == ["completed", "killed"]
    assert not project_lock_path(ge.load_config(None, {"Project.name": "solo",
                                 "Project.output_dir": str(tmp_path / "runs")})).exists()  # released at the end
