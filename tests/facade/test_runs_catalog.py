"""Runs as data: ``ge.list_runs``, ``ge.open_run`` and ``gan-engine runs``, read from real runs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest

import gan_engine as ge
from gan_engine.cli import main
from tests.facade.conftest import tiny_overrides


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished runs of two projects under one folder: ``older`` (3 iterations), then ``newer`` (2)."""
    root = tmp_path_factory.mktemp("catalog")
    for name, steps in (("older", 3), ("newer", 2)):
        extra = {"Project.name": f"proj-{name}", "Project.run_name": name, "Logging.log_images_every_n_steps": 0}
        ge.fit(None, overrides=tiny_overrides(root, steps=steps, extra=extra))
    (root / "runs" / "not-a-run").mkdir()  # a stray folder
    return root / "runs"


def test_list_runs_gives_every_run_newest_first_with_its_progress_and_best_metric(output_dir: Path) -> None:
    runs = ge.list_runs(output_dir)
    assert [r.name for r in runs] == ["newer", "older"]  # the stray folder is not a run
    older = runs[1]
    assert isinstance(older, ge.RunInfo)
    assert (older.project, older.status, older.iteration, older.max_steps) == ("proj-older", "completed", 3, 3)
    assert older.progress == 1.0 and older.run_dir == output_dir / "older"
    assert older.created and older.started and older.ended and older.duration_s is not None and older.duration_s > 0
    history = json.loads((output_dir / "older" / "metrics.json").read_text())
    assert older.monitor == "val/psnr" and older.best == {"val/psnr": max(r["val/psnr"] for r in history)}
    assert older.last_metrics["val/psnr"] == history[-1]["val/psnr"] and "train/g_total" in older.last_metrics


def test_open_run_reads_the_history_the_training_scalars_and_the_config_differences(output_dir: Path) -> None:
    run = ge.open_run(output_dir / "older")
    assert isinstance(run, ge.RunView) and run.info.name == "older"
    assert run.history == json.loads((output_dir / "older" / "metrics.json").read_text())
    assert [r["iteration"] for r in run.history] == [2, 3]  # validations at the logging cadence and the end
    rows = run.training_history()
    assert rows and all(isinstance(r["step"], int) for r in rows)
    assert any("train/content/l1" in r for r in rows) and any("train/d_adversarial" in r for r in rows)
    differences = run.config_differences()
    assert differences["Training.max_steps"] == (1800, 3) and differences["Project.run_name"] == (None, "older")
    assert "Training.EMA.decay" not in differences and "Trainer" not in differences
    frame = run.to_pandas()
    assert list(frame.index) == [2, 3] and frame["val/psnr"].tolist() == [r["val/psnr"] for r in run.history]


def _copy_run(src: Path, dst: Path, status: str, lock_pid: int | None) -> Path:
    shutil.copytree(src, dst)
    record = json.loads((dst / "run.json").read_text())
    record.update(status=status, ended=None)
    record["sessions"][-1].update(status=None, ended=None)
    (dst / "run.json").write_text(json.dumps(record))
    if lock_pid is not None:
        (dst / ".lock").write_text(json.dumps({"pid": lock_pid, "host": socket.gethostname(), "since": "now"}))
    return dst


def test_a_run_recorded_running_is_running_only_while_its_process_holds_the_lock(output_dir: Path,
                                                                                tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    _copy_run(output_dir / "older", tmp_path / "live", "running", os.getpid())
    _copy_run(output_dir / "older", tmp_path / "dead", "running", dead_pid)
    _copy_run(output_dir / "older", tmp_path / "nolock", "running", None)
    status = {r.name: r.status for r in ge.list_runs(tmp_path)}
    assert status == {"live": "running", "dead": "killed", "nolock": "killed"}
    live = ge.open_run(tmp_path / "live").info
    assert live.ended is None and live.duration_s is not None and live.duration_s > 0  # counted up to now


def test_unreadable_records_are_listed_and_wrong_folders_are_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    assert [(r.name, r.status) for r in ge.list_runs(tmp_path)] == [("broken", "unreadable")]
    with pytest.raises(ge.GanEngineError, match="is not a folder of runs"):
        ge.list_runs(tmp_path / "missing")
    with pytest.raises(ge.GanEngineError, match=r"has no run\.json.*gan-engine runs OUTPUT_DIR"):
        ge.open_run(tmp_path)


def test_the_command_line_lists_and_shows_runs(output_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", str(output_dir)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["RUN", "PROJECT", "STATUS"]
    assert table[1].split()[:4] == ["newer", "proj-newer", "completed", "2/2"]
    assert table[2].split()[:4] == ["older", "proj-older", "completed", "3/3"] and "val/psnr" in table[2]
    assert table[2].split()[5].endswith("Z")  # the latest session's start, to the second
    assert main(["runs", str(output_dir), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed] == ["newer", "older"] and listed[1]["iteration"] == 3
    assert main(["runs", "show", str(output_dir / "older")]) == 0
    shown = capsys.readouterr().out
    assert "status     completed" in shown and "Training.max_steps: 3  (default 1800)" in shown
    assert "validations" in shown and "best       val/psnr = " in shown
    assert main(["runs", "show", str(output_dir / "not-a-run")]) == 2
    assert "has no run.json" in capsys.readouterr().err


class _FailAt(L.Callback):
    """Raises when iteration ``at`` starts: a crash in the middle of a run."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: object, batch: object, idx: int) -> None:
        if getattr(pl_module, "iteration", 0) == self.at:
            raise RuntimeError(f"crash at iteration {self.at}")


def test_a_failed_run_is_retried_in_place_and_its_record_keeps_every_session(tmp_path: Path) -> None:
    if "test_fail_at" not in ge.callbacks:
        ge.callbacks.register("test_fail_at", _FailAt)
    extra = {"Project.name": "retry", "Logging.log_images_every_n_steps": 0}
    crashing = tiny_overrides(tmp_path, steps=6,
                              extra={**extra, "Callbacks.extra_validation": "[{name: test_fail_at, at: 5}]"})
    with pytest.raises(RuntimeError, match="crash at iteration 5"):
        ge.fit(None, overrides=crashing)
    (failed,) = ge.list_runs(tmp_path / "runs")
    assert failed.status == "failed" and failed.iteration == 4  # its last validation (and last.ckpt)
    result = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=6, extra=extra), resume=True)
    assert result.run_dir == failed.run_dir and result.module is not None and result.module.iteration == 6
    run = ge.open_run(failed.run_dir)
    assert run.info.status == "completed" and run.info.iteration == 6
    sessions = run.record["sessions"]
    assert [s["status"] for s in sessions] == ["failed", "completed"]
    assert sessions[1]["resumed_from"].endswith("last.ckpt")
    assert [r["iteration"] for r in run.history] == [2, 4, 6]  # the retry continued the history, not a new one


def test_each_run_draws_its_curves_after_validation_and_the_figure_holds_its_history(output_dir: Path) -> None:
    from PIL import Image

    curves = output_dir / "older" / "plots" / "curves.png"
    with Image.open(curves) as image:
        assert image.format == "PNG" and image.size[0] >= 600
    figure = ge.open_run(output_dir / "older").plot()
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert titles[:5] == ["generator losses", "discriminator losses", "adversarial weight and learning rates",
                          "val/psnr", "val/ssim"]
    psnr = {line.get_label(): line for line in figure.axes[3].get_lines()}
    history = ge.open_run(output_dir / "older").history
    assert list(psnr["val/psnr"].get_xdata()) == [r["iteration"] for r in history]
    assert list(psnr["val/psnr"].get_ydata()) == [r["val/psnr"] for r in history]
    assert set(psnr["bicubic"].get_ydata()) == {history[0]["val/psnr_bicubic"]}  # the reference line
    generator = {line.get_label() for line in figure.axes[0].get_lines()}
    assert {"train/content/l1", "train/g_total"} <= generator


def test_runs_plot_overlays_runs_and_plotting_can_be_turned_off_or_fail_without_stopping_training(
        output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from gan_engine.run.catalog import RunView
    from gan_engine.run.plots import plot_curves

    target = tmp_path / "both.png"
    assert main(["runs", "plot", str(output_dir / "older"), str(output_dir / "newer"), "--output", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    both = plot_curves([ge.open_run(output_dir / n) for n in ("older", "newer")])
    assert {"older: val/psnr", "newer: val/psnr"} <= {line.get_label() for line in both.axes[3].get_lines()}
    off = ge.fit(None, overrides=tiny_overrides(tmp_path / "off", steps=2, extra={"Logging.plot_curves": False}))
    assert off.run_dir is not None and not (off.run_dir / "plots").exists()

    def broken(self: RunView, path: object = None) -> None:
        raise RuntimeError("no display")

    monkeypatch.setattr(RunView, "plot", broken)
    with caplog.at_level("WARNING", logger="gan_engine"):
        result = ge.fit(None, overrides=tiny_overrides(tmp_path / "broken", steps=2))
    assert result.module is not None and result.module.iteration == 2
    assert any("could not draw" in r.getMessage() and "no display" in r.getMessage() for r in caplog.records)


def test_system_stats_are_logged_at_the_logging_cadence_when_asked(output_dir: Path, tmp_path: Path) -> None:
    import resource

    result = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=4, extra={"Logging.system_stats": True,
                                                                            "Logging.log_every_n_steps": 2}))
    assert result.run_dir is not None
    rows = [r for r in ge.open_run(result.run_dir).training_history() if "system/rss_gib" in r]
    assert [r["iteration"] for r in rows] == [2, 4]
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30
    for r in rows:  # this process's own figures: resident memory below its peak, CPU busy while training
        assert 0.05 < r["system/rss_gib"] <= peak_gib + 0.01
        assert r["system/threads"] >= 1
    assert 0 < rows[-1]["system/cpu_percent"] < 100 * (os.cpu_count() or 1) + 10
    default = ge.open_run(output_dir / "older").training_history()
    assert not any(k.startswith("system/") for r in default for k in r)  # off by default
