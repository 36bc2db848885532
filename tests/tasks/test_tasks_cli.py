"""Each task's example configuration trains from the command line and leaves a complete run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gan_engine.cli import train_main
from tests.tasks.test_tasks_fit import CONFIGS, TINY


@pytest.mark.parametrize("name", sorted(TINY))
def test_example_config_trains_from_the_command_line(name: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pretrain = 0 if name == "synthesis" else 1
    code = train_main(["--config", str(CONFIGS / f"{name}.yaml"), "--max-steps", "2", "--devices", "cpu",
                       *TINY[name], f"Training.pretrain_steps={pretrain}", f"Project.output_dir={tmp_path}",
                       "Data.train_size=8", "Data.val_size=4", "Data.batch_size=4", "Data.val_batch_size=4",
                       "Trainer.enable_progress_bar=false", "Trainer.num_sanity_val_steps=0"])
    assert code == 0, capsys.readouterr().err
    (run_dir,) = tmp_path.iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert json.loads((run_dir / "metrics.json").read_text()), "no validation record"
    assert "run directory:" in capsys.readouterr().out
