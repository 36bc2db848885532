"""The fid_kid callback: gan_engine.metrics.FID/KID at validation, local weights only, or a warning."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn

import gan_engine as ge
from gan_engine import metrics
from gan_engine.components.callbacks.fid import FIDKID
from gan_engine.nn.pretrained import INCEPTION_V3, inception_v3_features
from gan_engine.registry import datamodules

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "configs" / "synthesis.yaml"
TINY = ["Data.size=16", "Generator.image_size=16", "Generator.base_channels=8", "Discriminator.base_channels=8",
        "Discriminator.n_layers=2", "Training.max_steps=2", "Data.train_size=8", "Data.val_size=8",
        "Data.batch_size=4", "Data.val_batch_size=4"]
SR = {"Data": {"name": "synthetic_sr", "hr_size": 16, "bands": 4, "batch_size": 2, "train_size": 4, "val_size": 5,
               "val_batch_size": 3},
      "Generator": {"name": "srresnet", "n_channels": 8, "n_blocks": 1},
      "Discriminator": {"name": "srgan", "base_channels": 4, "n_stages": 2},
      "Training": {"max_steps": 1, "pretrain_steps": 0}}


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random Inception-v3 weights, saved under torchvision's file name."""
    path = tmp_path_factory.mktemp("inception") / INCEPTION_V3.file_name
    torch.manual_seed(5)
    torch.save(inception_v3_features().state_dict(), path)
    return path


@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    return tmp_path / "empty-hub" / "checkpoints"


class _Features(nn.Module):
    """A fixed random feature map of 3-band images, standing in for Inception."""

    num_features = 16

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x[:, :3]).relu().mean(dim=(2, 3))


def _trainer(extra: list[L.Callback], module: ge.GANModule) -> L.Trainer:
    return L.Trainer(**module.trainer_defaults(), logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, accelerator="cpu", callbacks=extra)


def _fit(cfg: ge.Config, extra: list[L.Callback]) -> dict[str, float]:
    module = ge.GANModule(cfg)
    trainer = _trainer(extra, module)
    trainer.fit(module, datamodules.build(cfg.Data.name, **cfg.Data.params))
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def test_callback_logs_fid_and_kid_with_a_feature_module() -> None:
    cfg = ge.load_config(CONFIG, overrides=TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics_ = _fit(cfg, [FIDKID(feature=_Features(), kid_subset_size=4, kid_subsets=3)])
    assert {"val/fid", "val/kid", "val/swd"} <= set(metrics_) and metrics_["val/fid"] > 0


def _expected(module: ge.GANModule, dm: Any, inception_file: Path) -> tuple[float, float]:
    """FID and KID of the validation set computed directly with gan_engine.metrics."""
    fid = metrics.FID(weights_path=inception_file, resize=75, input_range=(0.0, module.data_range))
    kid = metrics.KID(weights_path=inception_file, resize=75, input_range=(0.0, module.data_range), subset_size=4,
                      subsets=3)
    with torch.no_grad():
        for raw in dm.val_dataloader():
            batch = module.prepare(raw)
            real = module.task.real(module.denormalize_batch(batch))
            fake = module.denormalize(module.generate(batch), module.task.output_branch)
            for m in (fid, kid):
                m.update(real, real=True)
                m.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        kid_mean = kid.compute()[0]
    return fid.compute().item(), kid_mean.item()


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_config_callback_matches_the_metrics_on_every_band_with_local_weights(inception_file: Path) -> None:
    spec = {"name": "fid_kid", "weights_path": str(inception_file), "resize": 75, "kid_subset_size": 4,
            "kid_subsets": 3}
    cfg = ge.load_config({**SR, "Callbacks": {"extra_validation": [spec]}})
    module = ge.GANModule(cfg)
    dm = datamodules.build(cfg.Data.name, **cfg.Data.params)
    dm.data_range = 2.0  # the images are mapped to Inception's input from [0, data range]
    trainer = _trainer([], module)
    trainer.fit(module, dm)
    callback = next(c for c in trainer.callbacks if isinstance(c, FIDKID))
    assert callback.extractor is not None and callback.extractor.input_range == (0.0, 2.0) == (0.0, module.data_range)
    module.eval()
    first = {k: float(v) for k, v in trainer.validate(module, dm, verbose=False)[0].items()}
    second = trainer.validate(module, dm, verbose=False)[0]
    fid, kid = _expected(module, dm, inception_file)
    assert first["val/fid"] == pytest.approx(fid, rel=1e-4) and fid > 0
    assert first["val/kid"] == pytest.approx(kid, rel=1e-4, abs=1e-9)
    assert second["val/kid"] == first["val/kid"]  # seeded subsets: the same images give the same KID
    assert callback.fid is not None and callback.fid.fake_features_num_samples.item() == 5  # 3 + 2: one reduction


def test_kid_subsets_shrink_to_the_images_seen() -> None:
    cfg = ge.load_config(SR)  # 5 validation images, subsets of 100 asked for
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics_ = _fit(cfg, [FIDKID(feature=_Features())])
    assert torch.isfinite(torch.tensor(metrics_["val/kid"]))


def test_without_inception_weights_the_run_warns_once_and_goes_on(empty_hub_cache: Path) -> None:
    cfg = ge.load_config(CONFIG, overrides=[*TINY, "Callbacks.extra_validation=[{name: fid_kid}]"])
    module = ge.GANModule(cfg)
    dm = datamodules.build(cfg.Data.name, **cfg.Data.params)
    trainer = _trainer([], module)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(module, dm)
        trainer.validate(module, dm, verbose=False)
    ours = [w for w in caught if "fid_kid" in str(w.message)]
    assert len(ours) == 1 and issubclass(ours[0].category, RuntimeWarning)
    message = str(ours[0].message)
    assert "training goes on" in message and INCEPTION_V3.file_name in message
    assert str(empty_hub_cache) in message and "weights_path=" in message
    assert "val/swd" in trainer.callback_metrics and "val/fid" not in trainer.callback_metrics


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="must expose an integer attribute num_features"):
        FIDKID(feature=nn.Conv2d(3, 4, 1))
    with pytest.raises(ValueError, match="kid_subset_size ≥ 2 and kid_subsets ≥ 1, got 1 and 50"):
        FIDKID(kid_subset_size=1)
