"""The degradations registry: the second-order model, its kernels and JPEG, config checks, plugins."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import gan_engine as ge
from gan_engine.components.degradations.base import build_degradation
from gan_engine.components.degradations.jpeg import jpeg
from gan_engine.components.degradations.kernels import (
    anisotropic_kernels,
    identity_kernels,
    random_kernels,
    sinc_kernels,
)
from gan_engine.components.degradations.second_order import SecondOrderDegradation
from gan_engine.data.datasets import DEGRADATION_KEY
from gan_engine.errors import ConfigError

RECIPE = dict(sizes=(7, 9, 11, 13, 15, 17, 19, 21), probabilities=(0.45, 0.25, 0.12, 0.03, 0.12, 0.03),
              sigma=(0.2, 3.0), beta_generalized=(0.5, 4.0), beta_plateau=(1.0, 2.0))


def _params(deg: Any, n: int, bands: int, size: int, seed: int) -> dict[str, Any]:
    """Per-sample parameters as the data set draws and the loader collates them."""
    rng = torch.Generator().manual_seed(seed)
    items = [deg.sample(bands, size, size, rng) for _ in range(n)]
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


# -- kernels ------------------------------------------------------------------------------
def test_every_kernel_family_sums_to_one_and_stays_in_its_window() -> None:
    n = 6
    sigma, theta = torch.tensor([[1.0, 2.5]] * n), torch.linspace(0, 3, n)
    family = torch.tensor([0, 1, 2, 0, 1, 2])
    beta = torch.tensor([1.0, 0.5, 1.5, 1.0, 3.0, 2.0])
    extent = torch.tensor([7, 7, 7, 21, 21, 21])
    k = anisotropic_kernels(sigma, theta, 21, beta, family, extent)
    torch.testing.assert_close(k.sum((-2, -1)), torch.ones(n))
    assert (k[:3, :7].abs().sum() == 0) and (k[:3, 14:].abs().sum() == 0)  # outside the 7 × 7 window
    assert (k[3:, 10, 14] > 0).sum() == 2 and k[4, 10, 12] > 0  # beta 3: a flat top that ends sharply
    # a generalised Gaussian with beta 1 is a Gaussian; plateau tails are heavier than Gaussian ones
    one = anisotropic_kernels(sigma[:1], theta[:1], 21, torch.ones(1), torch.ones(1, dtype=torch.long))
    torch.testing.assert_close(one, anisotropic_kernels(sigma[:1], theta[:1], 21))
    gauss = anisotropic_kernels(torch.tensor([[1.5, 1.5]]), torch.zeros(1), 21)
    plateau = anisotropic_kernels(torch.tensor([[1.5, 1.5]]), torch.zeros(1), 21, torch.ones(1),
                                  torch.full((1,), 2))
    assert plateau[0, 10, 20] > 10 * gauss[0, 10, 20]


def test_a_rotated_anisotropic_kernel_is_elongated_along_its_angle() -> None:
    k = anisotropic_kernels(torch.tensor([[3.0, 0.5]]), torch.tensor([0.0]), 15)[0]
    assert k[7, 12] > 50 * k[12, 7]  # long along x
    turned = anisotropic_kernels(torch.tensor([[3.0, 0.5]]), torch.tensor([math.pi / 2]), 15)[0]
    torch.testing.assert_close(turned, k.T, atol=1e-6, rtol=1e-4)


def test_a_sinc_kernel_rings_and_a_wide_cut_off_is_nearly_a_delta() -> None:
    k = sinc_kernels(torch.tensor([math.pi / 3, math.pi]), 21)
    torch.testing.assert_close(k.sum((-2, -1)), torch.ones(2))
    assert k[0].min() < 0  # negative lobes: ringing around edges
    assert k[1, 10, 10] > 0.7 and k[1, 10, 10] > 4 * k[0, 10, 10]


def test_random_kernels_follow_their_seed_and_mix_families() -> None:
    a = random_kernels(64, 21, sinc_prob=0.3, rng=torch.Generator().manual_seed(1), **RECIPE)
    b = random_kernels(64, 21, sinc_prob=0.3, rng=torch.Generator().manual_seed(1), **RECIPE)
    c = random_kernels(64, 21, sinc_prob=0.3, rng=torch.Generator().manual_seed(2), **RECIPE)
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.testing.assert_close(a.sum((-2, -1)), torch.ones(64))
    rings = (a.flatten(1).min(1).values < 0).sum()
    assert 5 <= int(rings) <= 35  # ≈ 30 % sinc kernels; blur kernels are never negative
    assert torch.equal(identity_kernels(2, 5)[:, 2, 2], torch.ones(2))


# -- JPEG -------------------------------------------------------------------------------
@pytest.mark.parametrize("bands", [1, 3, 4, 13])
def test_jpeg_works_for_any_band_count_and_low_quality_loses_more(bands: int) -> None:
    torch.manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand(2, bands, 6, 6), size=(37, 41), mode="bicubic")
    x = smooth.clamp(0, 1)
    high, low = jpeg(x, torch.tensor([95.0, 95.0])), jpeg(x, torch.tensor([10.0, 10.0]))
    assert high.shape == x.shape and low.dtype == x.dtype
    assert (high - x).abs().mean() < (low - x).abs().mean()
    assert (low - x).abs().mean() > 0.005


def test_jpeg_keeps_flat_grey_planes_and_passes_gradients() -> None:
    flat = torch.full((1, 4, 16, 16), 0.25)
    torch.testing.assert_close(jpeg(flat, torch.tensor([50.0])), flat, atol=3e-3, rtol=0)
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    jpeg(x, torch.tensor([40.0, 80.0])).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_jpeg_works_in_data_units() -> None:
    x = torch.rand(1, 1, 16, 16) * 4000 + 1000
    out = jpeg(x, torch.tensor([90.0]), value_range=(1000.0, 5000.0))
    assert (out - x).abs().mean() < 0.05 * 4000 and out.min() >= 999


# -- the second-order model -------------------------------------------------------------
@pytest.mark.parametrize("bands", [1, 3, 4, 13])
def test_second_order_makes_lr_of_the_right_shape_within_range(bands: int) -> None:
    deg = ge.degradations.build("second_order", scale=4)
    hr = torch.rand(3, bands, 32, 32)
    lr = deg(hr, deg.plan(_params(deg, 3, bands, 32, 0)))
    assert lr.shape == (3, bands, 8, 8) and lr.dtype == hr.dtype
    assert 0 <= float(lr.min()) and float(lr.max()) <= 1
    assert torch.equal(lr * 255, (lr * 255).round())  # rounded to 8-bit levels


def test_second_order_is_a_function_of_the_drawn_parameters() -> None:
    deg = SecondOrderDegradation(scale=2)
    hr = torch.rand(4, 3, 32, 32)
    first = deg(hr, deg.plan(_params(deg, 4, 3, 32, 7)))
    torch.manual_seed(99)  # the global generator plays no part
    again = deg(hr, deg.plan(_params(deg, 4, 3, 32, 7)))
    other = deg(hr, deg.plan(_params(deg, 4, 3, 32, 8)))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_second_order_degrades_more_than_bicubic() -> None:
    torch.manual_seed(0)
    hr = torch.nn.functional.interpolate(torch.rand(8, 3, 8, 8), size=(64, 64), mode="bicubic").clamp(0, 1)
    bicubic = build_degradation(4, None)(hr)
    deg = SecondOrderDegradation(scale=4)
    lr = deg(hr, deg.plan(_params(deg, 8, 3, 64, 1)))
    assert (lr - bicubic).abs().mean() > 0.01


def test_bicubic_prob_mixes_plain_bicubic_samples_in() -> None:
    hr = torch.rand(16, 3, 32, 32)
    deg = SecondOrderDegradation(scale=4, bicubic_prob=0.5, quantize=None)
    params = _params(deg, 16, 3, 32, 0)
    lr = deg(hr, deg.plan(params))
    bicubic = torch.nn.functional.interpolate(hr, size=(8, 8), mode="bicubic", antialias=True,
                                              align_corners=False).clamp(0, 1)
    same = torch.isclose(lr, bicubic, atol=1e-6).flatten(1).all(1)
    assert torch.equal(same, params["bicubic"]) and 3 <= int(same.sum()) <= 13


def test_noise_options_grey_is_the_same_on_every_band_and_poisson_grows_with_signal() -> None:
    common = dict(scale=1, sinc_prob=0, second_blur_prob=0, final_sinc_prob=0, jpeg_prob=0, jpeg_prob2=0,
                  resize_probabilities=(0, 0, 1), resize_probabilities2=(0, 0, 1), blur_sigma=(0.0, 0.0),
                  kernel_sizes=(1,), quantize=None, noise_range2=(0, 0), gaussian_noise_prob2=1.0)
    grey = SecondOrderDegradation(**common, gaussian_noise_prob=1.0, gray_noise_prob=1.0, noise_range=(0.05, 0.05))
    hr = torch.full((2, 4, 32, 32), 0.5)
    noise = grey(hr, grey.plan(_params(grey, 2, 4, 32, 0))) - hr
    assert torch.equal(noise[:, 0], noise[:, 3]) and 0.04 < float(noise.std()) < 0.06
    colour = SecondOrderDegradation(**common, gaussian_noise_prob=1.0, gray_noise_prob=0.0,
                                    noise_range=(0.05, 0.05))
    noise = colour(hr, colour.plan(_params(colour, 2, 4, 32, 0))) - hr
    assert not torch.equal(noise[:, 0], noise[:, 3])
    shot = SecondOrderDegradation(**common, gaussian_noise_prob=0.0, gray_noise_prob=0.0, poisson_scale=(1.0, 1.0))
    dark, bright = torch.full((1, 3, 64, 64), 0.05), torch.full((1, 3, 64, 64), 0.8)
    p = shot.plan(_params(shot, 1, 3, 64, 0))
    assert float((shot(bright, p) - bright).std()) > 2.5 * float((shot(dark, p) - dark).std())


def test_plan_takes_batch_decisions_on_the_cpu_as_python_values() -> None:
    deg = SecondOrderDegradation(scale=4)
    planned = deg.plan(_params(deg, 3, 3, 32, 0))
    assert planned["_planned"] is True and isinstance(planned["noise_seed"], int)
    assert isinstance(planned["resize1"][0], float) and planned["resize1"][1] in ("area", "bilinear", "bicubic")
    assert {"seed", "resize2", "final"}.isdisjoint(k for k, v in planned.items() if isinstance(v, torch.Tensor))


def test_bad_second_order_settings_name_the_key_when_the_config_loads() -> None:
    def problems(degradation: dict[str, Any]) -> str:
        with pytest.raises(ConfigError) as info:
            ge.load_config({"Data": {"name": "image_folder", "root": "x", "degradation": degradation}})
        return str(info.value)

    assert "did you mean 'second_order'" in problems({"name": "second_ordr"})
    assert "Data.degradation.blur_sigmaa" in problems({"name": "second_order", "blur_sigmaa": [1, 2]})
    assert "Data.degradation.sinc_prob: must be ≥ 0 and ≤ 1" in problems({"name": "second_order", "sinc_prob": 2})
    assert "Data.degradation: second_order blur_sigma must be a range" in problems(
        {"name": "second_order", "blur_sigma": [3, 1]})
    assert "Data.degradation.jpeg_range: item 0" in problems({"name": "second_order", "jpeg_range": [0, 90]})
    cfg = ge.load_config({"Data": {"name": "image_folder", "root": "x", "degradation": {"name": "second_order"}}})
    assert cfg.Data.params["degradation"] == {"name": "second_order"}


def _pngs(folder: Path, n: int, size: int = 40) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"img{i}.png")


def _val_lr(root: Path, degradation: dict[str, Any]) -> torch.Tensor:
    dm = ge.datamodules.build("image_folder", root=str(root), scale=4, hr_size=32, val_fraction=0.5,
                              batch_size=2, degradation=degradation)
    dm.setup()
    batch = next(iter(dm.val_dataloader()))
    if degradation["name"] != "classic":  # the models that take batch decisions plan them on the CPU
        assert isinstance(batch[DEGRADATION_KEY]["seed"], torch.Tensor)
        batch = dm.on_before_batch_transfer(batch, 0)
        assert batch[DEGRADATION_KEY]["_planned"] is True
    return dm.on_after_batch_transfer(batch, 0)["lr"]  # type: ignore[no-any-return]


def test_image_folder_validation_with_second_order_is_the_same_every_run(tmp_path: Path) -> None:
    _pngs(tmp_path, 4)
    first = _val_lr(tmp_path, {"name": "second_order"})
    torch.manual_seed(5)
    again = _val_lr(tmp_path, {"name": "second_order"})
    assert first.shape == (2, 3, 8, 8) and torch.equal(first, again)
    assert not torch.equal(first, _val_lr(tmp_path, {"name": "classic"}))


def test_a_plugin_degradation_is_usable_from_a_config(install_distribution, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      monkeypatch) -> None:
    package = Path(__file__).resolve().parents[2] / "examples" / "plugin_package"
    monkeypatch.syspath_prepend(str(package))
    install_distribution("gan-engine-example-plugin", {
        "gan_engine.degradations": {"example_sensor": "gan_engine_example_plugin.degradations:ExampleSensor"}}, {})
    assert "example_sensor" in ge.degradations.names()
    with pytest.raises(ConfigError, match=r"Data\.degradation\.full_wel.*closest: 'full_well'"):
        ge.load_config({"Data": {"name": "image_folder", "root": "x",
                                 "degradation": {"name": "example_sensor", "full_wel": 10}}})
    _pngs(tmp_path / "images", 4)
    lr = _val_lr(tmp_path / "images", {"name": "example_sensor", "full_well": 50.0})
    assert lr.shape == (2, 3, 8, 8)
    assert ge.degradations.describe("example_sensor").origin.startswith("gan-engine-example-plugin")


def test_data_preview_writes_the_grid_of_what_training_sees(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from gan_engine.cli import main

    _pngs(tmp_path / "photos", 4, size=48)
    config = Path(__file__).resolve().parents[2] / "examples" / "configs" / "real_photos_sr.yaml"
    args = ["data", "preview", str(config), f"Data.root={tmp_path / 'photos'}", "Data.hr_size=32",
            "Data.val_hr_size=32", "Data.num_workers=0", "Data.batch_size=2", "--output", str(tmp_path / "out"),
            "--rows", "3", "--no-stretch"]
    assert main(args) == 0
    png = tmp_path / "out" / "preview-train.png"
    assert "columns: hr | lr | lr (bicubic)" in capsys.readouterr().out
    with Image.open(png) as img:
        width, height = img.size
    assert (width, height) == (3 * 32 + 4 * 2, 3 * 32 + 4 * 2)  # 3 columns × 3 rows of 32² tiles, 2-pixel gaps
    assert main([*args[:-1], "--split", "val"]) == 0 and (tmp_path / "out" / "preview-val.png").exists()


def test_a_degradation_without_degrade_cannot_be_built() -> None:
    from gan_engine.components.degradations.base import Degradation

    class Forgetful(Degradation):
        pass

    with pytest.raises(TypeError, match="degrade"):
        Forgetful(scale=4)
