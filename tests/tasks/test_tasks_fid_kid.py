"""FID and KID for synthesis runs: the distances, and the callback with and without weights."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

import gan_engine as ge
from gan_engine.callbacks.fid import FIDKID, frechet_distance, kid, to_rgb
from gan_engine.registry import callbacks, datamodules

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "configs" / "synthesis.yaml"
TINY = ["Data.size=16", "Generator.image_size=16", "Generator.base_channels=8", "Discriminator.base_channels=8",
        "Discriminator.n_layers=2", "Training.max_steps=2", "Data.train_size=8", "Data.val_size=8",
        "Data.batch_size=4", "Data.val_batch_size=4"]


def test_frechet_distance_known_values() -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(4000, 3, generator=g, dtype=torch.float64)
    assert float(frechet_distance(real, real)) == pytest.approx(0.0, abs=1e-6)
    shifted = real + torch.tensor([3.0, 0.0, 4.0], dtype=torch.float64)
    assert float(frechet_distance(real, shifted)) == pytest.approx(25.0, rel=1e-6)  # |mean shift|², same covariance
    scaled = real * 2  # Σ_f = 4Σ_r: tr(Σ_r + 4Σ_r - 2·2Σ_r) = tr(Σ_r) ≈ 3
    assert float(frechet_distance(real, scaled)) == pytest.approx(3.0, rel=0.1)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift() -> None:
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(200, 8, generator=g).double(), torch.randn(200, 8, generator=g).double()
    same = float(kid(a, b, 50, 20))
    far = float(kid(a, b + 1.0, 50, 20))
    assert abs(same) < 0.05 and far > 10 * abs(same) and far > 0.1


def test_to_rgb_picks_bands_and_clips() -> None:
    x = torch.stack([torch.full((2, 2), v) for v in (0.5, 2.0, -1.0, 0.25)])[None]
    assert to_rgb(x, 1.0, [3, 0, 1]).flatten(1).unique().tolist() == [0.25, 0.5, 1.0]
    assert to_rgb(torch.ones(1, 1, 2, 2) * 5, 10.0, None).shape == (1, 3, 2, 2)


class _Features(nn.Module):
    """A fixed random feature map, standing in for Inception."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).relu().mean(dim=(2, 3))


def _fit(cfg: ge.Config, extra: list[L.Callback]) -> dict[str, float]:
    module = ge.GANModule(cfg)
    dm = datamodules.build(cfg.Data.name, **cfg.Data.params)
    trainer = L.Trainer(**module.trainer_defaults(), logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", callbacks=extra)
    trainer.fit(module, dm)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def test_callback_logs_fid_and_kid_with_a_feature_module() -> None:
    cfg = ge.load_config(CONFIG, overrides=TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = _fit(cfg, [FIDKID(feature=_Features(), kid_subset_size=4, kid_subsets=3)])
    assert {"val/fid", "val/kid", "val/swd"} <= set(metrics) and metrics["val/fid"] > 0


def test_without_inception_weights_the_run_warns_and_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torchmetrics.utilities.imports._TORCH_FIDELITY_AVAILABLE", False)
    assert "fid_kid" in callbacks.names()
    cfg = ge.load_config(CONFIG, overrides=[*TINY, "Callbacks.extra_validation=[{name: fid_kid}]"])
    with pytest.warns(RuntimeWarning, match="FID and KID are skipped .*torch-fidelity"):
        metrics = _fit(cfg, [])
    assert "val/swd" in metrics and "val/fid" not in metrics
