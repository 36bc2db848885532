"""Every component family trains from a config: two iterations of ``ge.GANModule`` + ``lightning.Trainer``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

import gan_engine as ge

from .tiny import TINY_DISCRIMINATORS, TINY_GENERATORS

IMAGE_GENERATORS = [n for n in sorted(TINY_GENERATORS) if n != "dcgan"]


def _config(**sections: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "Task": {"name": "super_resolution", "scale": 2},
        "Data": {"name": "synthetic_sr", "bands": 4, "hr_size": 32, "batch_size": 2, "val_batch_size": 2,
                 "train_size": 4, "val_size": 2},
        "Generator": {"name": "srresnet", **TINY_GENERATORS["srresnet"]},
        "Discriminator": {"name": "srgan", **TINY_DISCRIMINATORS["srgan"]},
        "Training": {"max_steps": 2, "pretrain_steps": 1},
        "Callbacks": {"health": {"enabled": False}},
    }
    cfg.update(sections)
    return cfg


def _fit(cfg: dict[str, Any]) -> ge.GANModule:
    import lightning as L

    module = ge.GANModule(cfg)
    data = ge.datamodules.build(module.cfg.Data.name, **module.cfg.Data.params)
    before = {k: v.clone() for k, v in module.generator.state_dict().items()}
    d_before = {k: v.clone() for k, v in module.discriminator.state_dict().items()}
    trainer = L.Trainer(**module.trainer_defaults(), accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=1, num_sanity_val_steps=0)
    trainer.fit(module, datamodule=data)
    assert module.iteration == 2
    changed = [k for k, v in module.generator.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "the generator did not change"
    d_changed = [k for k, v in module.discriminator.state_dict().items() if not torch.equal(v, d_before[k])]
    assert d_changed, "the discriminator did not change in the adversarial iteration"
    return module


@pytest.mark.parametrize("name", IMAGE_GENERATORS)
def test_generator_family_trains(name: str) -> None:
    scale = max(s for s in ge.generators.get(name).scales if s <= 2)  # unet is same-size only
    _fit(_config(Task={"name": "super_resolution", "scale": scale},
                 Generator={"name": name, **TINY_GENERATORS[name]}))


@pytest.mark.parametrize("name", sorted(TINY_DISCRIMINATORS))
def test_discriminator_family_trains(name: str) -> None:
    _fit(_config(Discriminator={"name": name, "spectral_norm": True, **TINY_DISCRIMINATORS[name]}))


def test_every_content_loss_trains_together(hub_cache: Path) -> None:
    content = [{"name": "l1", "weight": 1.0}, {"name": "mse", "weight": 1.0}, {"name": "charbonnier", "weight": 1.0},
               {"name": "ssim", "weight": 0.1}, {"name": "sam", "weight": 0.05}, {"name": "tv", "weight": 0.01},
               {"name": "perceptual", "layers": ["relu2_2"], "weight": 0.01},
               {"name": "lpips", "weight": 0.01}]
    module = _fit(_config(Losses={"content": content}))
    assert sorted(module.content_losses) == sorted(c["name"] for c in content)


@pytest.mark.parametrize("normalization", [
    {"name": "scale", "factor": 2.0},
    {"name": "signed"},
    {"name": "zscore", "mean": [0.5] * 4, "std": [0.25] * 4},
    {"name": "percentile", "low": [0.0] * 4, "high": [1.0] * 4},
    {"name": "chain", "steps": [{"name": "scale", "factor": 2.0}, "signed"]},
])
def test_normalizers_train(normalization: dict[str, Any]) -> None:
    _fit(_config(Normalization=normalization))


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_dcgan_trains_class_conditionally_through_a_synthesis_task() -> None:
    """A minimal synthesis task, registered for this test: noise and a label in, an image out."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from gan_engine.components.tasks.base import Task

    @ge.tasks.register("tiny_synthesis")
    class TinySynthesis(Task):
        batch_keys = ("image", "label")
        has_content_target = False
        branches: ClassVar[dict[str, str]] = {"image": "hr"}

        def __init__(self, latent_dim: int = 8, classes: int = 3) -> None:
            self.latent_dim, self.classes = latent_dim, classes

        def generator_channels(self, bands: int) -> tuple[int, int]:
            return self.latent_dim, bands

        def discriminator_channels(self, bands: int) -> int:
            return bands + self.classes

        def prepare_batch(self, batch: Any) -> dict[str, torch.Tensor]:
            return {"image": batch[0], "label": batch[1]}

        def generator_inputs(self, batch: Any) -> tuple[torch.Tensor, ...]:
            z = torch.randn(batch["image"].shape[0], self.latent_dim, device=batch["image"].device)
            return z, batch["label"]

        def real(self, batch: Any) -> torch.Tensor:
            return batch["image"]

        def discriminator_input(self, image: torch.Tensor, batch: Any) -> torch.Tensor:
            planes = torch.nn.functional.one_hot(batch["label"], self.classes).to(image.dtype)[:, :, None, None]
            return torch.cat([image, planes.expand(-1, -1, *image.shape[-2:])], dim=1)

        def content_loss(self, fake: torch.Tensor, batch: Any, terms: Any) -> dict[str, torch.Tensor]:
            return {}

    cfg = _config(Task={"name": "tiny_synthesis"}, Losses={"content": []},
                  Generator={"name": "dcgan", "n_classes": 3, **TINY_GENERATORS["dcgan"]},
                  Training={"max_steps": 2, "pretrain_steps": 0})
    module = ge.GANModule(cfg)
    assert module.discriminator.in_channels == 4 + 3 and module.generator.out_channels == 4
    images = torch.rand(4, 4, 8, 8) * 2 - 1
    loader = DataLoader(TensorDataset(images, torch.tensor([0, 1, 2, 0])), batch_size=2)
    before = [p.clone() for p in module.generator.parameters()]
    trainer = L.Trainer(**module.trainer_defaults(), accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0)
    trainer.fit(module, train_dataloaders=loader)
    assert module.iteration == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, module.generator.parameters()))
