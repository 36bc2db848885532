"""Stops that lose nothing: signals end at an iteration boundary, a killed run resumes from its newest snapshot.

Each resume test proves that the second session continued the first one: same run directory,
a start from a checkpoint at iteration > 0 recorded in run.json, and weights equal, bit for bit,
to those of a run that was never stopped.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

import gan_engine as ge
import gan_engine.api
from gan_engine.components.callbacks.checkpoints import BestCheckpoints, PeriodicCheckpoint
from tests.facade.conftest import tiny_overrides


def _record(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run.json").read_text())


def _iteration(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["gan_engine"]["iteration"])


def _generator(module: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.generator.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class _Signal(L.Callback):
    """Sends ``signals`` to this process while iteration ``at`` (1-based) is in its discriminator step."""

    def __init__(self, at: int, signals: list[int]) -> None:
        self.at, self.signals = at, signals

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: Any, optimizer: Any) -> None:
        if pl_module.iteration + 1 == self.at and pl_module.current_phase == "discriminator":
            for sig in self.signals:
                os.kill(os.getpid(), sig)


def _with(extra: L.Callback) -> Any:
    build = ge.api.build_callbacks
    return lambda cfg, run: [*build(cfg, run), extra]


def _overrides(tmp_path: Path, name: str, steps: int = 6, **extra: object) -> list[str]:
    return tiny_overrides(tmp_path, steps=steps, extra={"Project.run_name": name, **extra})


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signal_mid_iteration_stops_at_its_end_and_the_resume_is_exact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: int) -> None:
    straight = ge.fit(None, overrides=_overrides(tmp_path, "straight"))
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(ge.api, "build_callbacks", _with(_Signal(3, [sig])))
    with pytest.raises(KeyboardInterrupt, match="stopped at iteration 3"):
        ge.fit(None, overrides=_overrides(tmp_path, "stopped"))
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    run_dir = tmp_path / "runs" / "stopped"
    assert _record(run_dir)["status"] == "interrupted"
    # The discriminator had stepped when the signal came: the checkpoint holds the whole iteration 3.
    assert _iteration(run_dir / "checkpoints" / "last.ckpt") == 3
    monkeypatch.undo()
    resumed = ge.fit(None, overrides=_overrides(tmp_path, "stopped"), resume=True)
    sessions = _record(run_dir)["sessions"]
    assert resumed.run_dir == run_dir and [s["status"] for s in sessions] == ["interrupted", "completed"]
    assert sessions[1]["resumed_from"].endswith("last.ckpt")
    assert resumed.module.iteration == 6 and _same(_generator(resumed.module), _generator(straight.module))


def test_a_second_ctrl_c_aborts_at_once_and_keeps_the_previous_last_ckpt(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ge.api, "build_callbacks", _with(_Signal(3, [signal.SIGINT, signal.SIGINT])))
    with pytest.raises(KeyboardInterrupt):
        ge.fit(None, overrides=_overrides(tmp_path, "aborted"))
    run_dir = tmp_path / "runs" / "aborted"
    assert _record(run_dir)["status"] == "interrupted"
    assert _iteration(run_dir / "checkpoints" / "last.ckpt") == 2  # from the validation at iteration 2


def test_with_accumulation_sigterm_waits_for_the_last_micro_batch(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    class FirstMicroBatch(L.Callback):
        def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, i: int) -> None:
            if pl_module.iteration == 1 and pl_module.pending_micro_batches == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(ge.api, "build_callbacks", _with(FirstMicroBatch()))
    over = _overrides(tmp_path, "accumulating", **{"Training.accumulate_grad_batches": 2, "Data.train_size": 16})
    with pytest.raises(KeyboardInterrupt, match="stopped at iteration 2"):
        ge.fit(None, overrides=over)
    state = torch.load(tmp_path / "runs" / "accumulating" / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["gan_engine"]["iteration"] == 2 and state["gan_engine"]["pending"] == []


_KILLED_RUN = """
import os, signal, sys
import lightning as L
import gan_engine as ge
import gan_engine.api

class Kill(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if pl_module.iteration == 5:
            os.kill(os.getpid(), signal.SIGKILL)  # no handler runs, nothing is flushed: an OOM kill

build = ge.api.build_callbacks
ge.api.build_callbacks = lambda cfg, run: [*build(cfg, run), Kill()]
ge.fit(None, overrides=sys.argv[1:])
"""


def test_a_killed_run_resumes_in_place_from_its_newest_complete_snapshot(tmp_path: Path) -> None:
    # Validation only at the end, so the killed run has snapshots but no last.ckpt.
    extra = {"Callbacks.periodic.every_n_steps": 2, "Trainer.check_val_every_n_epoch": 100, "Data.train_size": 32}
    straight = ge.fit(None, overrides=_overrides(tmp_path, "straight", steps=8, **extra))
    script = tmp_path / "killed_run.py"
    script.write_text(textwrap.dedent(_KILLED_RUN))
    proc = subprocess.run([sys.executable, str(script), *_overrides(tmp_path, "killed", steps=8, **extra)],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2])
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    run_dir = tmp_path / "runs" / "killed"
    ckpts = run_dir / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["iter-0000002.ckpt", "iter-0000004.ckpt"]
    assert _record(run_dir)["status"] == "running"  # the process had no chance to say anything
    (ckpts / "iter-0000006.ckpt").write_bytes((ckpts / "iter-0000004.ckpt").read_bytes()[:5000])  # cut off

    with pytest.warns(RuntimeWarning, match="skipping the checkpoint .*iter-0000006.ckpt"):
        resumed = ge.fit(None, overrides=_overrides(tmp_path, "killed", steps=8, **extra), resume=True)
    record = _record(run_dir)
    assert resumed.run_dir == run_dir and record["status"] == "completed"
    assert [s["status"] for s in record["sessions"]] == ["killed", "completed"]
    assert record["sessions"][1]["resumed_from"].endswith("iter-0000004.ckpt")
    assert resumed.module.iteration == 8 and _same(_generator(resumed.module), _generator(straight.module))


def test_resume_ranks_checkpoints_by_the_iteration_inside_not_by_file_time(tmp_path: Path) -> None:
    result = ge.fit(None, overrides=_overrides(tmp_path, "ranked", steps=4,
                                               **{"Callbacks.periodic.every_n_steps": 2}))
    ckpts = result.run_dir / "checkpoints"
    os.utime(ckpts / "iter-0000002.ckpt")  # the oldest snapshot now has the newest time
    found = ge.checkpoint.newest_checkpoint(ckpts)
    assert found is not None and found[1] == 4 and found[0].name == "last.ckpt"


def test_a_snapshot_holds_the_state_after_every_update_of_its_iteration(tmp_path: Path) -> None:
    over = {"Callbacks.periodic.every_n_steps": 2, "Training.EMA.enabled": True, "Training.EMA.decay": 0.5,
            "Training.accumulate_grad_batches": 2, "Data.train_size": 16}
    result = ge.fit(None, overrides=_overrides(tmp_path, "snapshots", steps=4, **over))
    ckpts = result.run_dir / "checkpoints"
    snapshot, last = (torch.load(ckpts / n, weights_only=True) for n in ("iter-0000004.ckpt", "last.ckpt"))
    assert snapshot["gan_engine"]["iteration"] == last["gan_engine"]["iteration"] == 4
    ema = ge.checkpoint.ema_shadow(snapshot)
    assert ema is not None and _same(ema, ge.checkpoint.ema_shadow(last))  # the EMA update of iteration 4 is in
    periodic = next(c for c in result.trainer.callbacks if isinstance(c, PeriodicCheckpoint))
    assert [p.name for p in periodic.saved] == ["iter-0000002.ckpt", "iter-0000004.ckpt"]  # once each


def test_last_ckpt_is_refreshed_every_n_minutes_at_iteration_boundaries(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 100_000, 25))  # each look at the clock: 25 s later
    monkeypatch.setattr(importlib.import_module("gan_engine.components.callbacks.checkpoints"), "monotonic",
                        lambda: float(next(clock)))
    written: list[int] = []
    real = BestCheckpoints.write_last

    def spy(self: BestCheckpoints, trainer: L.Trainer) -> None:
        written.append(trainer.lightning_module.iteration)  # type: ignore[attr-defined]
        real(self, trainer)

    monkeypatch.setattr(BestCheckpoints, "write_last", spy)
    over = {"Callbacks.checkpoint.every_n_minutes": 1.0, "Trainer.check_val_every_n_epoch": 100,
            "Data.train_size": 32}
    ge.fit(None, overrides=_overrides(tmp_path, "timed", steps=6, **over))
    # One look per iteration, 25 s apart: a minute has passed at iterations 3 and 6 (the end writes once more).
    assert written[:2] == [3, 6] and set(written) == {3, 6}
