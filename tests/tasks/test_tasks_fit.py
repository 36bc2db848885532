"""Tiny real fits: every task trains through GANModule and a plain lightning.Trainer, and learns."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

import gan_engine as ge
from gan_engine.registry import datamodules

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"
TINY = {
    "image_to_image": ["Data.size=16", "Generator.base_channels=8", "Generator.depth=2",
                       "Discriminator.base_channels=8"],
    "inpainting": ["Data.size=16", "Generator.base_channels=8", "Generator.depth=2", "Discriminator.base_channels=8"],
    "synthesis": ["Data.size=16", "Generator.image_size=16", "Generator.base_channels=8",
                  "Discriminator.base_channels=8", "Discriminator.n_layers=2"],
}
#: the metric each tiny fit watches (lower is better), and the fraction of its starting value it must reach
MONITOR = {"image_to_image": ("val/l1", 0.8), "inpainting": ("val/l1_hole", 0.9), "synthesis": ("val/swd", 0.5)}


def _run(cfg: ge.Config, dm: Any = None, validate_first: bool = False) -> tuple[float | None, dict[str, float]]:
    module = ge.GANModule(cfg)
    dm = dm or datamodules.build(cfg.Data.name, **cfg.Data.params)
    trainer = L.Trainer(**module.trainer_defaults(), logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                        num_sanity_val_steps=0, check_val_every_n_epoch=10_000)
    before = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if validate_first:
            before = trainer.validate(module, dm, verbose=False)[0]
        trainer.fit(module, dm)
        after = trainer.validate(module, dm, verbose=False)[0]
    assert module.iteration == cfg.Training.max_steps
    key = MONITOR[cfg.Task.name][0] if cfg.Task.name in MONITOR else "val/psnr"
    return None if before is None else before[key], after


@pytest.mark.parametrize("name", sorted(TINY))
def test_example_config_trains_two_iterations(name: str) -> None:
    cfg = ge.load_config(CONFIGS / f"{name}.yaml", overrides=[
        *TINY[name], "Training.max_steps=2", f"Training.pretrain_steps={0 if name == 'synthesis' else 1}",
        "Data.train_size=8", "Data.val_size=4", "Data.batch_size=4", "Data.val_batch_size=4"])
    _, metrics = _run(cfg)
    key = MONITOR[name][0]
    assert np.isfinite(metrics[key]) and cfg.Callbacks.checkpoint.monitor in metrics


@pytest.mark.parametrize("name", sorted(TINY))
def test_each_task_learns_in_a_tiny_fit(name: str) -> None:
    steps = 120
    cfg = ge.load_config(CONFIGS / f"{name}.yaml", overrides=[
        *TINY[name], f"Training.max_steps={steps}", f"Training.pretrain_steps={0 if name == 'synthesis' else 20}",
        "Data.train_size=64", "Data.val_size=16", "Data.batch_size=8", "Data.val_batch_size=16",
        "Losses.adversarial.ramp.steps=0", "Training.EMA.enabled=false", "Optimizers.generator.lr=0.002"])
    before, after = _run(cfg, validate_first=True)
    key, fraction = MONITOR[name]
    assert before is not None
    assert after[key] < fraction * before, (key, before, after[key])


def test_image_folder_config_trains_on_a_users_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / f"photo{i}.jpg")
    cfg = ge.load_config(CONFIGS / "image_folder_sr.yaml", overrides=[
        f"Data.root={tmp_path}", "Data.hr_size=16", "Data.val_hr_size=32", "Data.batch_size=2", "Data.num_workers=0",
        "Generator.n_channels=8", "Generator.n_blocks=1", "Discriminator.base_channels=8",
        "Training.max_steps=2", "Training.pretrain_steps=1"])
    _, metrics = _run(cfg)
    assert {"val/psnr", "val/psnr_bicubic"} <= set(metrics)


def test_nodata_pixels_are_left_out_of_the_content_loss() -> None:
    task = ge.tasks.build("super_resolution", scale=2)
    hr = torch.rand(2, 3, 8, 8)
    valid = torch.ones(2, 1, 8, 8)
    valid[:, :, :4] = 0
    fake = hr + 0.1
    fake[:, :, :4] += 5.0  # huge errors where the data are missing must not count
    l1 = {"l1": lambda p, t: (p - t).abs().mean()}
    value = task.content_loss(fake, {"lr": hr[..., ::2, ::2], "hr": hr, "valid": valid}, l1)["l1"]
    assert abs(float(value) - 0.1) < 1e-5
