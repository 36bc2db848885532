"""The degradation pipeline and the hole-mask generators."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gan_engine.components.degradations.base import build_degradation
from gan_engine.components.degradations.classic import ClassicDegradation as Degradation
from gan_engine.components.degradations.classic import degrade
from gan_engine.components.degradations.kernels import anisotropic_kernels as gaussian_kernels
from gan_engine.data.masks import box_mask, make_mask, stroke_mask
from gan_engine.errors import ConfigError


def test_without_blur_or_noise_it_is_antialiased_bicubic() -> None:
    hr = torch.rand(2, 3, 32, 32)
    lr = Degradation(scale=4)(hr)
    torch.testing.assert_close(lr, F.interpolate(hr, scale_factor=0.25, mode="bicubic", antialias=True))


def test_area_resampling_is_block_mean() -> None:
    hr = torch.rand(1, 2, 16, 16)
    torch.testing.assert_close(degrade(hr, 4, resample="area"), F.avg_pool2d(hr, 4))


def test_gaussian_kernels_normalised_and_rotated() -> None:
    sigma = torch.tensor([[3.0, 0.5], [3.0, 0.5]])
    k = gaussian_kernels(sigma, torch.tensor([0.0, math.pi / 2]), 13)
    torch.testing.assert_close(k.sum(dim=(-2, -1)), torch.ones(2))
    torch.testing.assert_close(k[0], k[1].T, atol=1e-6, rtol=1e-5)  # rotating by 90° swaps the axes
    assert float(k[0, 6, :].sum()) > float(k[0, :, 6].sum())  # wide along x when theta = 0
    delta = gaussian_kernels(torch.zeros(1, 2), torch.zeros(1), 5)
    assert float(delta[0, 2, 2]) > 0.999


def test_blur_removes_high_frequencies_and_noise_has_the_drawn_std() -> None:
    hr = (torch.arange(64).remainder(2).float().expand(1, 1, 64, 64)).clone()  # a 1-pixel grating
    blurred = degrade(hr, 1, gaussian_kernels(torch.full((1, 2), 2.0), torch.zeros(1), 13))
    assert float(blurred[..., 8:-8, 8:-8].std()) < 0.01 * float(hr.std())
    deg = Degradation(scale=2, noise_std=[0.1, 0.1])
    params = deg.sample_batch(4, 3, 64, 64, rng=torch.Generator().manual_seed(0))
    noisy = deg(torch.zeros(4, 3, 64, 64), params)
    assert abs(float(noisy.std()) - 0.1) < 0.01


def test_sampling_is_deterministic_per_generator_and_probabilities_apply() -> None:
    deg = Degradation(scale=2, blur_sigma=[0.5, 2.0], anisotropic=True, noise_std=[0.0, 0.1], blur_prob=0.5)
    a = deg.sample(3, 16, 16, torch.Generator().manual_seed(5))
    b = deg.sample(3, 16, 16, torch.Generator().manual_seed(5))
    assert a.keys() == {"sigma", "theta", "noise"} and all(torch.equal(a[k], b[k]) for k in a)
    assert a["noise"].shape == (3, 8, 8)
    many = deg.sample_batch(2000, 1, 4, 4, rng=torch.Generator().manual_seed(0))
    blurred = (many["sigma"][:, 0] > 0).float().mean()
    assert 0.45 < float(blurred) < 0.55
    assert float(many["sigma"].max()) <= 2.0


def test_params_drawn_on_the_fly_when_the_batch_has_none() -> None:
    deg = Degradation(scale=2, blur_sigma=[1.0, 1.0], noise_std=[0.05, 0.05])
    lr = deg(torch.rand(2, 3, 16, 16))
    assert lr.shape == (2, 3, 8, 8)


def test_bad_degradation_settings_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"Data\.degradation: degradation blur_sigma must be a range"):
        build_degradation(2, {"blur_sigma": [2.0, 1.0]})
    with pytest.raises(ConfigError, match=r"Data\.degradation\.noise: .*closest: 'noise_std'"):
        build_degradation(2, {"noise": 0.1})


@pytest.mark.parametrize("kind", ["boxes", "strokes", "mixed"])
def test_masks_are_binary_nonempty_and_seeded(kind: str) -> None:
    a = make_mask(kind, 32, 40, torch.Generator().manual_seed(3))
    b = make_mask(kind, 32, 40, torch.Generator().manual_seed(3))
    others = [make_mask(kind, 32, 40, torch.Generator().manual_seed(s)) for s in range(4, 8)]
    assert a.shape == (1, 32, 40) and set(a.unique().tolist()) <= {0.0, 1.0}
    assert 0 < float(a.mean()) < 1
    assert torch.equal(a, b) and any(not torch.equal(a, o) for o in others)


def test_stroke_masks_are_thin_and_boxes_are_rectangles() -> None:
    box = box_mask(64, 64, torch.Generator().manual_seed(0), max_boxes=1)
    rows, cols = box[0].any(dim=1), box[0].any(dim=0)
    assert float(box.sum()) == float(rows.sum() * cols.sum())  # exactly its bounding rectangle
    stroke = stroke_mask(64, 64, torch.Generator().manual_seed(0), max_strokes=1, max_width=0.05)
    assert float(stroke.mean()) < 0.3


def test_unknown_mask_kind() -> None:
    with pytest.raises(ValueError, match=r"unknown mask kind 'circles'; choose one of"):
        make_mask("circles", 8, 8)
