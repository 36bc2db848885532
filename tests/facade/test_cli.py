"""The command line: every verb, the train flags, and bad input as exit status 2 with a message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gan_engine.cli import main, train_main, train_overrides, validate_main
from tests.facade.conftest import tiny_overrides

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def _write(path: Path, data: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_train_then_validate_from_the_command_line(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "c.yaml", {"Project": {"name": "cli"}})
    done = _run("-m", "gan_engine.train", "--config", str(cfg), "--max-steps", "2", "--devices", "cpu",
                *tiny_overrides(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "run directory:" in done.stdout
    assert "val PSNR:" in done.stdout and "bicubic" in done.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["Training"]["max_steps"] == 2 and resolved["Trainer"]["accelerator"] == "cpu"
    checked = _run("-m", "gan_engine.validate", "--config", str(cfg), "--checkpoint",
                   str(run_dir / "checkpoints" / "last.ckpt"), *tiny_overrides(tmp_path))
    assert checked.returncode == 0, checked.stderr
    assert "val/psnr_bicubic" in checked.stdout


@pytest.mark.parametrize("args, message", [
    (["--config", "nowhere.yaml"], "configuration file not found: nowhere.yaml"),
    (["--config", "CFG", "Training.max_stepz=3"], "Training.max_stepz: unknown key; did you mean 'max_steps'?"),
    (["--config", "CFG", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["--config", "CFG", "--checkpoint", "CORRUPT"], "is truncated or corrupt"),
    (["--config", "CFG", "--devices", "two"], "--devices expects a number"),
    (["--config", "CFG", "--resume", "--checkpoint", "CORRUPT"], "not both"),
    (["--config", "CFG", "Training.max_steps"], "expected KEY=VALUE"),
])
def test_bad_input_exits_2_with_a_message_and_no_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           args: list[str], message: str) -> None:
    cfg = _write(tmp_path / "c.yaml", {"Project": {"output_dir": str(tmp_path / "runs")}})
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"PK\x03\x04 not really a checkpoint")
    argv = [str(cfg) if a == "CFG" else str(corrupt) if a == "CORRUPT" else a for a in args]
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(train_main(argv))
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_the_console_script_reports_a_bad_file_in_one_paragraph(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("Training: {max_steps: many}\nGenerator: {name: srresnt}\n")
    done = _run("-m", "gan_engine", "config", "check", str(bad))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "Training.max_steps: expected int" in done.stderr and "did you mean 'srresnet'" in done.stderr


def test_validate_needs_its_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        validate_main(["--config", "x.yaml"])
    assert exited.value.code == 2 and "--checkpoint" in capsys.readouterr().err


def test_flags_become_overrides() -> None:
    import argparse

    ns = argparse.Namespace(devices="0,1", accelerator="gpu", strategy="ddp", precision="bf16", max_steps=10,
                            limit_train_batches=0.5, fast_dev_run=True, overrides=["Data.bands=3"])
    assert train_overrides(ns) == [
        "Data.bands=3", "Trainer.devices=[0,1]", "Trainer.accelerator=gpu", "Trainer.strategy=ddp",
        "Training.precision=bf16", "Training.max_steps=10", "Trainer.limit_train_batches=0.5",
        "Trainer.fast_dev_run=true"]


def test_plugins_lists_every_kind_with_origins(capsys: pytest.CaptureFixture[str]) -> None:
    import gan_engine as ge

    @ge.generators.register("broken_on_purpose")
    def _factory() -> None:
        """A test component."""

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for kind in ("generators", "discriminators", "losses", "normalizers", "callbacks", "tasks", "datamodules"):
        assert f"\n{kind} (" in f"\n{out}"
    assert "srresnet" in out and "[gan_engine.components.generators.srresnet]" in out and "image_panels" in out
    assert main(["plugins", "--kind", "generators", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert list(listed) == ["generators"]
    assert {"name": "srresnet", "error": None}.items() <= next(i for i in listed["generators"]
                                                               if i["name"] == "srresnet").items()


def test_plugins_marks_a_component_that_cannot_load(capsys: pytest.CaptureFixture[str]) -> None:
    import gan_engine as ge

    ge.generators.declare("ghost", "no_such_module_anywhere:Thing")
    with pytest.warns(RuntimeWarning, match="ghost"):
        assert main(["plugins", "--kind", "generators"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("ghost"))
    assert "BROKEN" in line and "no_such_module_anywhere" in line


def test_config_schema_show_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "Training" in schema["properties"]
    cfg = _write(tmp_path / "c.yaml", {"Training": {"max_steps": 7, "pretrain_steps": 2}})
    assert main(["config", "show", str(cfg), "Data.bands=3"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["Training"]["max_steps"] == 7 and shown["Generator"]["in_channels"] == 3  # derived values
    assert main(["config", "check", str(cfg)]) == 0
    assert "OK" in capsys.readouterr().out


def test_importing_the_validate_script_module_keeps_ge_validate_callable() -> None:
    code = ("import gan_engine as ge, gan_engine.validate, inspect; "
            "assert callable(ge.validate); print('ok')")
    done = _run("-c", code)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
