"""Metrics: known values, per-band and spectral metrics, and the network-based ones (local weights)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from gan_engine import metrics
from gan_engine.components.losses.lpips import lpips_distance
from gan_engine.errors import ShapeError
from gan_engine.nn import WeightsNotFoundError
from gan_engine.nn.pretrained import inception_v3_features


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inception") / "inception_v3_google-0cc3c7bd.pth"
    torch.manual_seed(5)
    torch.save(inception_v3_features().state_dict(), path)
    return path


@pytest.mark.parametrize("delta", [0.01, 0.1, 0.25])
@pytest.mark.parametrize("data_range", [1.0, 0.3, 10000.0])
def test_psnr_of_a_constant_offset(delta: float, data_range: float) -> None:
    target = torch.rand(2, 4, 8, 8) * data_range
    offset = delta * data_range
    expected = 10 * math.log10(data_range**2 / offset**2)
    assert metrics.psnr(target + offset, target, data_range).item() == pytest.approx(expected, rel=1e-4)
    per_band = metrics.psnr_per_band(target + offset, target, data_range)
    assert per_band.shape == (4,) and torch.allclose(per_band, torch.full((4,), expected), rtol=1e-4)


def test_psnr_per_band_isolates_bands_and_takes_per_band_ranges() -> None:
    target = torch.zeros(1, 3, 4, 4)
    pred = target.clone()
    pred[:, 1] += 0.1
    values = metrics.psnr_per_band(pred, target, torch.tensor([1.0, 1.0, 2.0]))
    assert values[1].item() == pytest.approx(20.0, rel=1e-5)
    assert values[0].item() == pytest.approx(120.0)  # the 1e-12 floor of the MSE
    assert values[2].item() - values[0].item() == pytest.approx(20 * math.log10(2), rel=1e-4)


def test_ssim_of_identical_images_is_one() -> None:
    x = torch.rand(2, 6, 16, 16)
    assert metrics.ssim(x, x, data_range=1.0).item() == pytest.approx(1.0, abs=1e-6)
    assert metrics.ssim(x, torch.rand_like(x), data_range=1.0).item() < 0.5


def test_spectral_angle_known_values() -> None:
    a = torch.rand(2, 13, 4, 4) + 0.05
    assert metrics.spectral_angle(a, a).item() == 0.0
    assert metrics.spectral_angle(a, 4 * a).item() == pytest.approx(0.0, abs=1e-6)
    e = torch.eye(3).view(3, 3, 1, 1)[:2]  # two pixels: bands (1,0,0) and (0,1,0)
    assert metrics.spectral_angle(e, e.flip(0)).item() == pytest.approx(math.pi / 2)
    angles = metrics.spectral_angle(a, torch.rand_like(a), reduction="none")
    assert angles.shape == (2, 4, 4)


def test_ergas_matches_its_formula() -> None:
    target = torch.rand(3, 4, 8, 8) + 0.5
    pred = target + 0.05 * torch.randn_like(target)
    rmse = (pred - target).square().mean(dim=(2, 3)).sqrt()
    expected = (100 / 4 * ((rmse / target.mean(dim=(2, 3))) ** 2).mean(dim=1).sqrt()).mean()
    assert metrics.ergas(pred, target, scale=4).item() == pytest.approx(expected.item(), rel=1e-4)
    assert metrics.ergas(target, target, scale=4).item() == 0.0


def test_metrics_refuse_mismatched_shapes() -> None:
    with pytest.raises(ShapeError, match=r"got \(1, 3, 4, 4\) and \(1, 4, 4, 4\)"):
        metrics.psnr_per_band(torch.rand(1, 3, 4, 4), torch.rand(1, 4, 4, 4), 1.0)


def test_lpips_metric_averages_over_all_images(hub_cache: Path) -> None:
    metric = metrics.LPIPSMetric()
    batches = [(torch.rand(2, 4, 32, 32), torch.rand(2, 4, 32, 32)) for _ in range(3)]
    for pred, target in batches:
        metric.update(pred, target)
    per_image = torch.cat([lpips_distance(p, t, metric.network, reduction="none") for p, t in batches])
    assert metric.compute().item() == pytest.approx(per_image.mean().item(), rel=1e-5)
    assert metric.higher_is_better is False


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_fid_and_kid_with_local_weights_on_multispectral_images(inception_file: Path) -> None:
    real, fake = torch.rand(5, 6, 32, 32), torch.rand(5, 6, 32, 32) * 0.3
    fid = metrics.FID(weights_path=inception_file, resize=75)
    fid.update(real, real=True)
    fid.update(real, real=False)
    same = fid.compute().item()
    fid.reset()
    fid.update(real, real=True)
    fid.update(fake, real=False)
    different = fid.compute().item()
    assert abs(same) < 1e-2 * max(different, 1e-6) and different > 0
    kid = metrics.KID(weights_path=inception_file, resize=75, subset_size=4, subsets=3)
    kid.update(real, real=True)
    kid.update(fake, real=False)
    mean, std = kid.compute()
    assert torch.isfinite(mean) and torch.isfinite(std)


def test_inception_features_average_the_band_triplets(inception_file: Path) -> None:
    feats = metrics.InceptionFeatures(weights_path=inception_file, resize=75, bands=[[0, 1, 2], [3, 4, 5]])
    x = torch.rand(2, 6, 16, 16)
    both = feats(x)
    feats.bands = [0, 1, 2]
    one = feats(x)
    feats.bands = [3, 4, 5]
    assert both.shape == (2, 2048)
    assert torch.allclose(both, (one + feats(x)) / 2, atol=1e-5)


def test_fid_without_weights_names_the_file(empty_hub_cache: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match=r"metric FID/KID needs the pretrained Inception-v3 weights: "
                                                   r"expected the file inception_v3_google-0cc3c7bd\.pth"):
        metrics.FID()
