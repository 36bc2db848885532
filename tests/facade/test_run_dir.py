"""The run directory: names, the record's lifecycle, resume discovery and the one-writer lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gan_engine as ge
from gan_engine.run import Run, RunDir, RunLock, find_latest_run, new_run_dir


@pytest.fixture(autouse=True)
def _any_file_is_a_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about directories; checkpoint contents are tested with real fits."""
    monkeypatch.setattr("gan_engine.run.session.read_checkpoint", lambda path, **kwargs: {})


def _cfg(tmp_path: Path, **project: object) -> ge.Config:
    return ge.load_config({"Project": {"output_dir": str(tmp_path / "runs"), **project}})


def test_new_run_dirs_are_distinct_and_named_after_the_project(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, name="demo")
    first, second = new_run_dir(cfg), new_run_dir(cfg)
    assert first.path != second.path
    assert first.name.startswith("demo-") and second.name.startswith("demo-")
    assert first.path.parent == tmp_path / "runs"


def test_a_taken_run_name_is_refused_with_advice(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, run_name="fixed")
    run, _ = Run.open(cfg)
    with run.session(None):
        pass
    with pytest.raises(ge.ConfigError, match=r"already holds a run.*resume"):
        Run.open(cfg)


def test_session_writes_config_and_the_status_lifecycle(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    run, start = Run.open(cfg)
    assert start is None
    assert json.loads(run.dir.record.read_text())["status"] == "pending"
    assert ge.load_config(run.dir.config).to_dict() == cfg.to_dict()  # resolved and re-loadable
    with run.session(None):
        record = json.loads(run.dir.record.read_text())
        assert record["status"] == "running" and record["pid"] == os.getpid()
        assert run.dir.lock.exists()
    record = json.loads(run.dir.record.read_text())
    assert record["status"] == "completed" and record["ended"] >= record["started"]
    assert not run.dir.lock.exists()
    assert "run completed" in (run.dir.logs / "training.log").read_text()


def test_a_failure_is_recorded_with_its_error_and_the_lock_released(tmp_path: Path) -> None:
    run, _ = Run.open(_cfg(tmp_path))
    with pytest.raises(ValueError, match="boom"), run.session(None):
        raise ValueError("boom")
    record = json.loads(run.dir.record.read_text())
    assert record["status"] == "failed"
    assert record["error"] == {"type": "ValueError", "message": "boom"}
    assert not run.dir.lock.exists()
    assert "ValueError: boom" in (run.dir.logs / "training.log").read_text()  # with the traceback


def test_ctrl_c_is_recorded_as_interrupted(tmp_path: Path) -> None:
    run, _ = Run.open(_cfg(tmp_path))
    with pytest.raises(KeyboardInterrupt), run.session(None):
        raise KeyboardInterrupt("training interrupted at iteration 7")
    record = json.loads(run.dir.record.read_text())
    assert record["status"] == "interrupted"
    assert "iteration 7" in record["interruption"]


def test_a_second_live_writer_fails_fast_naming_the_owner(tmp_path: Path) -> None:
    lock_path = tmp_path / ".lock"
    with RunLock(lock_path), pytest.raises(ge.RunLockedError, match=f"in use by process {os.getpid()}"):
        RunLock(lock_path).acquire()
    assert not lock_path.exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock_path = tmp_path / ".lock"
    lock_path.write_text(json.dumps({"pid": int(dead.stdout), "host": None}))
    lock = RunLock(lock_path)
    with pytest.warns(RuntimeWarning, match="stale lock"):
        lock.acquire()
    assert json.loads(lock_path.read_text())["pid"] == os.getpid()
    lock.release()


def test_a_locked_run_cannot_be_resumed_by_another_process(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, name="busy")
    run, _ = Run.open(cfg)
    run.dir.last_checkpoint.write_bytes(b"x")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        run.dir.lock.write_text(json.dumps({"pid": holder.pid, "host": None}))
        run.lock = None  # the lock now belongs to the other process
        with pytest.raises(ge.RunLockedError, match=f"process {holder.pid}"):
            Run.open(cfg, resume=True)
    finally:
        holder.kill()
        holder.wait()


def test_resume_picks_the_latest_run_of_the_same_project_even_without_a_checkpoint(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, name="alpha")
    other = _cfg(tmp_path, name="beta")
    runs = []
    for c, created in ((cfg, "2024-01-01"), (cfg, "2024-03-01"), (other, "2024-09-01"), (cfg, "2024-06-01")):
        run, _ = Run.open(c)
        run.record.data["created"] = created
        run.record.save()
        run.lock.release()  # type: ignore[union-attr]
        runs.append(run)
    runs[1].dir.last_checkpoint.write_bytes(b"x")  # an older alpha run has a (broken) checkpoint; the newest none
    latest = find_latest_run(cfg)
    assert latest is not None and latest.path == runs[3].dir.path  # beta's newer run is another project
    with pytest.warns(RuntimeWarning, match="holds no complete checkpoint .* starts again from iteration 0"):
        resumed, start = Run.open(cfg, resume=True)
    assert resumed.dir.path == runs[3].dir.path and start is None  # the killed run restarts in place
    resumed.lock.release()  # type: ignore[union-attr]


def test_resume_without_any_run_starts_a_new_one_with_a_warning(tmp_path: Path) -> None:
    with pytest.warns(RuntimeWarning, match="no run of 'quickstart'"):
        run, start = Run.open(_cfg(tmp_path), resume=True)
    assert start is None and run.dir.record.exists()
    run.lock.release()  # type: ignore[union-attr]


def test_a_checkpoint_inside_a_run_continues_that_run(tmp_path: Path) -> None:
    first, _ = Run.open(_cfg(tmp_path))
    first.lock.release()  # type: ignore[union-attr]
    ckpt = first.dir.checkpoints / "best-iter=0000010.ckpt"
    ckpt.write_bytes(b"x")
    again, start = Run.open(_cfg(tmp_path), ckpt_path=ckpt)
    assert again.dir.path == first.dir.path and start == ckpt
    again.lock.release()  # type: ignore[union-attr]


def test_missing_checkpoint_and_conflicting_arguments_are_clear_errors(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    with pytest.raises(ge.CheckpointError, match=r"no checkpoint at .*nope.ckpt"):
        Run.open(_cfg(tmp_path), ckpt_path=tmp_path / "nope.ckpt")
    with pytest.raises(ge.ConfigError, match="not both"):
        Run.open(_cfg(tmp_path), ckpt_path=tmp_path / "x.ckpt", resume=True)
    assert not (tmp_path / "runs").exists()  # nothing written for bad input


def test_rundir_paths() -> None:
    run = RunDir(Path("out/r1"))
    assert run.last_checkpoint == Path("out/r1/checkpoints/last.ckpt")
    assert run.metrics.name == "metrics.json" and run.logs.name == "logs" and run.images.name == "images"
