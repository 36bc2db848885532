"""The progress bar shows the iteration and the latest losses, read only on logging iterations."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from gan_engine.components.callbacks.progress import GANProgressBar


def test_the_bar_shows_iteration_and_losses_read_on_logging_iterations() -> None:
    bar = GANProgressBar(max_steps=100, every_n_steps=10)
    module = SimpleNamespace(iteration=10)
    metrics = {"train/g_total": torch.tensor(0.5), "train/d_adversarial": torch.tensor(0.7), "train/other": 1.0}
    trainer = SimpleNamespace(lightning_module=module, callback_metrics=metrics, global_step=20)
    assert bar.get_metrics(trainer, module) == {"iter": "10/100", "loss_g": 0.5, "loss_d": 0.7}  # type: ignore[arg-type]
    metrics["train/g_total"] = torch.tensor(0.1)
    module.iteration = 11  # not a logging iteration: the shown losses stay, nothing is read
    assert bar.get_metrics(trainer, module)["loss_g"] == 0.5  # type: ignore[arg-type]
    module.iteration = 20
    assert bar.get_metrics(trainer, module)["loss_g"] == 0.1  # type: ignore[arg-type]
