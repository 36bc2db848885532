"""Tiny, fast training configurations for the facade tests."""

from __future__ import annotations

from pathlib import Path

import pytest


def tiny_overrides(root: Path, steps: int = 4, extra: dict[str, object] | None = None) -> list[str]:
    """Overrides that make the quickstart train in about a second: 16 px images, a 1-block generator."""
    base = {
        "Project.output_dir": str(root / "runs"),
        "Data.hr_size": 16, "Data.train_size": 8, "Data.val_size": 4, "Data.batch_size": 4, "Data.val_batch_size": 4,
        "Generator.n_channels": 8, "Generator.n_blocks": 1, "Discriminator.base_channels": 4,
        "Training.max_steps": steps, "Training.pretrain_steps": 1, "Losses.adversarial.ramp.steps": 0,
        "Logging.log_every_n_steps": 1, "Logging.log_images_every_n_steps": 2,
        "Trainer.enable_progress_bar": False, "Trainer.enable_model_summary": False,
        "Trainer.num_sanity_val_steps": 0,
    }
    base.update(extra or {})
    return [f"{k}={v}" for k, v in base.items()]


@pytest.fixture
def tiny(tmp_path: Path) -> list[str]:
    return tiny_overrides(tmp_path)
