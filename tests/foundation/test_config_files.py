"""Configuration files that are not what they seem: refused with the file and the fix, quickly, before any run."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import gan_engine as ge
from gan_engine.cli import main

ROOT = Path(__file__).parents[2]


def _refused(path: Path, match: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ge.ConfigError, match=match):
        ge.load_config(path)
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("gan-engine config: error:")


def test_a_file_that_is_not_utf8_names_the_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("Project: {name: caf\xe9}\n".encode("latin-1"))
    _refused(path, r"is not UTF-8 text \(byte 19 is 0xe9\)", capsys)


def test_a_recursive_alias_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [*a]\n")
    _refused(path, "a YAML alias refers to itself", capsys)


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefghij"):
        prev = "abcdefghij"[i]
        lines.append(f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")  # about 500 bytes that expand to 10 × 8⁹ values
    start = time.perf_counter()
    _refused(path, "expand to more than 100000 values", capsys)
    assert time.perf_counter() - start < 5  # a bound on work, not a benchmark: unbounded takes minutes


def test_a_directory_is_not_reported_as_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _refused(tmp_path, "is a directory; expected a YAML configuration file", capsys)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"])
def test_an_empty_file_is_refused_rather_than_run_as_the_quickstart(tmp_path: Path, text: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    _refused(path, r"the file is empty; write `\{\}` in it for all defaults", capsys)
    (tmp_path / "defaults.yaml").write_text("{}\n")
    assert ge.load_config(tmp_path / "defaults.yaml").Project.name == "quickstart"


@pytest.mark.parametrize("key", ["Project.name", "Project.run_name"])
@pytest.mark.parametrize("value", ["../../x", "/abs", "a/b", "a\\\\b", "..", " padded "])
def test_names_that_would_leave_the_output_dir_are_refused(key: str, value: str) -> None:
    with pytest.raises(ge.ConfigError, match=rf"{key}: is .*it names one folder under Project\.output_dir"):
        ge.load_config(None, overrides={key: value})


def test_zero_training_batches_are_refused_before_a_run_directory_exists(tmp_path: Path) -> None:
    with pytest.raises(ge.ConfigError, match=r"Trainer\.limit_train_batches: is 0"):
        ge.load_config(None, overrides={"Trainer.limit_train_batches": 0})
    proc = subprocess.run([sys.executable, "-m", "gan_engine.train", "--config", "examples/configs/quickstart.yaml",
                           "--limit-train-batches", "0", f"Project.output_dir={tmp_path / 'runs'}"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 2 and "Trainer.limit_train_batches" in proc.stderr, proc.stderr[-1500:]
    assert not (tmp_path / "runs").exists()
