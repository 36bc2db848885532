"""The embedded synthetic_sr data: deterministic, structured, any band count, quick to make."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gan_engine.data.synthetic import SyntheticSRDataModule, make_scenes


def test_scenes_are_a_pure_function_of_seed_and_index() -> None:
    a = make_scenes(40, bands=3, size=16, seed=5)
    assert torch.equal(a, make_scenes(40, bands=3, size=16, seed=5))
    assert torch.equal(a[:8], make_scenes(8, bands=3, size=16, seed=5))  # independent of n
    assert not torch.equal(a, make_scenes(40, bands=3, size=16, seed=6))


@pytest.mark.parametrize("bands", [1, 2, 4, 6, 13])
def test_any_band_count_in_unit_range(bands: int) -> None:
    x = make_scenes(4, bands=bands, size=24, seed=0)
    assert x.shape == (4, bands, 24, 24) and x.min() >= 0 and x.max() <= 1


def test_scenes_have_structure_not_noise() -> None:
    x = make_scenes(16, bands=4, size=64, seed=0)
    # neighbouring pixels are strongly correlated (noise would give ~0) ...
    dx = x[..., 1:] - x[..., :-1]
    corr = torch.corrcoef(torch.stack([x[..., 1:].flatten(), x[..., :-1].flatten()]))[0, 1]
    assert corr > 0.8
    # ... yet there are sharp edges: a visible fraction of large jumps
    assert (dx.abs() > 0.1).float().mean() > 0.01
    # and the bands are correlated, as reflectance spectra are
    assert torch.corrcoef(x.transpose(0, 1).flatten(1))[0, 1] > 0.2


def test_bicubic_loses_detail_a_model_can_recover() -> None:
    dm = SyntheticSRDataModule(bands=4, hr_size=32, scale=4, train_size=8, val_size=8)
    dm.setup()
    batch = next(iter(dm.val_dataloader()))
    assert batch["lr"].shape == (8, 4, 8, 8) and batch["hr"].shape == (8, 4, 32, 32)
    up = F.interpolate(batch["lr"], scale_factor=4, mode="bicubic")
    mse = (up - batch["hr"]).pow(2).mean()
    assert 1e-4 < mse < 0.05  # neither trivial nor hopeless
