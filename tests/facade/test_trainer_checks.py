"""The Trainer section checked against this machine before a run exists; bounded processes that end together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import gan_engine as ge
from gan_engine.training.environment import ALLOW_OVERSUBSCRIPTION_ENV, check_trainer, usable_cores
from tests.facade.conftest import tiny_overrides

ROOT = Path(__file__).parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD": "1",
       "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _train(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gan_engine.train", "--config", "examples/configs/quickstart.yaml",
                           *flags, f"Project.output_dir={tmp_path / 'runs'}"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=ENV)


@pytest.mark.parametrize(("flags", "named"), [
    (["--accelerator", "tpu"], "Trainer.accelerator: is 'tpu', which is not available on this machine"),
    (["--accelerator", "quantum"], "Trainer.accelerator: is 'quantum', which Lightning does not know"),
    (["--strategy", "nonsense"], "Trainer.strategy: is 'nonsense', which Lightning does not know"),
    (["--devices", "99"], "Trainer.devices: is 99: on the CPU each device is a training process"),
], ids=["tpu", "unknown-accelerator", "strategy", "devices"])
def test_trainer_flags_this_machine_cannot_honour_exit_2_before_anything_is_written(
        tmp_path: Path, flags: list[str], named: str) -> None:
    proc = _train(tmp_path, *flags)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert named in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_the_process_bound_follows_the_usable_cores_and_has_an_explicit_override(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cores = usable_cores()
    assert check_trainer({"accelerator": "cpu", "devices": cores}) == []
    assert [i.path for i in check_trainer({"accelerator": "cpu", "devices": cores + 1})] == ["Trainer.devices"]
    monkeypatch.setenv(ALLOW_OVERSUBSCRIPTION_ENV, "1")
    assert check_trainer({"accelerator": "cpu", "devices": cores + 1}) == []


def test_fit_refuses_before_creating_the_output_dir(tmp_path: Path) -> None:
    with pytest.raises(ge.ConfigError, match=r"Trainer\.strategy: is 'dpp'.*did you mean 'ddp'"):
        ge.fit(None, overrides=[*tiny_overrides(tmp_path), "Trainer.strategy=dpp"])
    assert not (tmp_path / "runs").exists()


_DDP_CHOICES = """
import json, sys
import lightning as L
import gan_engine as ge
from gan_engine.api import build_datamodule


class Wrapper(L.Callback):
    def on_fit_start(self, trainer, pl_module):
        out["find_unused"] = trainer.strategy.model.find_unused_parameters  # torch's DDP wrapper, public

out = {}
build = ge.api.build_callbacks
ge.api.build_callbacks = lambda cfg, run: [*build(cfg, run), Wrapper()]
over = sys.argv[1:]
result = ge.fit(None, overrides=[*over, "Trainer.strategy=ddp", "Trainer.devices=1", "Trainer.accelerator=cpu"])
out["fit"] = result.module.iteration
ge.api.build_callbacks = build
cfg = ge.load_config(None, overrides=over)
module = ge.GANModule(cfg)
trainer = L.Trainer(strategy="ddp", devices=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                    max_epochs=-1, enable_progress_bar=False, num_sanity_val_steps=0)
try:
    trainer.fit(module, build_datamodule(cfg))
except ge.GanEngineError as exc:
    out["plain"] = str(exc)
print(json.dumps(out))
"""


def test_ddp_is_built_with_the_public_strategy_and_a_plain_ddp_trainer_is_told_what_to_pass(tmp_path: Path) -> None:
    script = tmp_path / "ddp_choices.py"
    script.write_text(textwrap.dedent(_DDP_CHOICES))
    proc = subprocess.run([sys.executable, str(script), *tiny_overrides(tmp_path, steps=2)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["fit"] == 2 and out["find_unused"] is True
    assert "find_unused_parameters=True" in out["plain"] and "ddp_find_unused_parameters_true" in out["plain"]


_FAILING_RANK = """
import sys
import lightning as L
import gan_engine as ge
import gan_engine.api

class Boom(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_rank == 0 and pl_module.iteration == 2:
            raise RuntimeError("rank zero failed on purpose")

build = ge.api.build_callbacks
ge.api.build_callbacks = lambda cfg, run: [*build(cfg, run), Boom()]
ge.fit(None, overrides=[*sys.argv[1:], "Trainer.strategy=ddp", "Trainer.devices=2", "Trainer.accelerator=cpu"])
"""


def _alive(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return found.stdout.split()


def test_no_child_outlives_a_failed_parent(tmp_path: Path) -> None:
    script = tmp_path / "failing_rank.py"
    script.write_text(textwrap.dedent(_FAILING_RANK))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(script), *tiny_overrides(tmp_path, steps=6)], capture_output=True,
                          text=True, timeout=240, cwd=ROOT, env=ENV)
    try:
        assert proc.returncode == 1 and "rank zero failed on purpose" in proc.stderr, proc.stderr[-3000:]
        assert time.monotonic() - start < 200  # not the half-hour collective timeout
        deadline = time.monotonic() + 10
        while _alive(str(script)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(str(script)) == []
    finally:
        for pid in _alive(str(script)):
            subprocess.run(["kill", "-9", pid], check=False)


@pytest.mark.parametrize("profiler", [None, "simple"])
def test_hooks_run_under_the_null_profiler_unless_trainer_profiler_names_one(tmp_path: Path,
                                                                             profiler: str | None) -> None:
    from lightning.pytorch.profilers import PassThroughProfiler, SimpleProfiler

    from gan_engine.training.environment import NullProfiler

    extra = {} if profiler is None else {"Trainer.profiler": profiler}
    result = ge.fit(None, overrides=tiny_overrides(tmp_path, steps=2, extra=extra))
    assert result.trainer is not None and result.module is not None and result.module.iteration == 2
    chosen = result.trainer.profiler
    if profiler is None:  # profiles nothing, like Lightning's default, and hands out one shared context
        assert isinstance(chosen, NullProfiler) and isinstance(chosen, PassThroughProfiler)
        assert chosen.profile("a") is chosen.profile("b")
        with chosen.profile("[Callback]x.on_train_batch_end"):
            pass
    else:  # the user's choice wins and records Lightning's actions
        assert isinstance(chosen, SimpleProfiler) and "run_training_epoch" in chosen.recorded_durations
