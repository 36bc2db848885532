"""Content losses: the contract for every registered one, known values, and pretrained loading."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

import gan_engine as ge
from gan_engine.components.losses import base, content, lpips, perceptual, structural
from gan_engine.errors import ShapeError
from gan_engine.nn import WeightsNotFoundError
from gan_engine.testing import check_content_loss

from .tiny import builtin_names

# name → (constructor kwargs, functional core, its kwargs, check options)
CASES: dict[str, tuple[dict[str, Any], Any, dict[str, Any], dict[str, Any]]] = {
    "l1": ({}, content.l1_loss, {}, {"pointwise": True}),
    "mse": ({}, content.mse_loss, {}, {"pointwise": True}),
    "charbonnier": ({"eps": 0.01}, content.charbonnier_loss, {"eps": 0.01}, {"pointwise": True}),
    "tv": ({}, lambda p, t: content.tv_loss(p), {}, {"minimised_at_target": False}),
    "ssim": ({"window_size": 7}, structural.ssim_loss, {"window_size": 7}, {}),
    "sam": ({}, structural.sam_loss, {}, {"pointwise": True}),
    "perceptual": ({"layers": ["relu2_2", "conv3_4"]}, None, {}, {"size": 16}),
    "lpips": ({}, None, {}, {"size": 32, "band_counts": (1, 3, 4)}),
}


def test_every_registered_content_loss_is_covered() -> None:
    content_losses = [n for n in builtin_names(ge.losses) if getattr(ge.losses.get(n), "kind", None) == "content"]
    assert sorted(content_losses) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_content_loss_contract(name: str, hub_cache: Path) -> None:
    kwargs, function, fkwargs, options = CASES[name]
    loss = ge.losses.build(name, **kwargs)
    check_content_loss(loss, function=function, function_kwargs=fkwargs, **options)


def test_pretrained_losses_match_their_functional_core(hub_cache: Path) -> None:
    pred, target = torch.rand(2, 6, 32, 32), torch.rand(2, 6, 32, 32)
    triplets = [[0, 1, 2], [5, 4, 3]]
    p = perceptual.PerceptualLoss(layers=["relu1_2", "relu3_1"], layer_weights=[0.5, 2.0], bands=triplets)
    expected = perceptual.perceptual_loss(pred, target, p.extractor, layer_weights=[0.5, 2.0], bands=triplets)
    assert torch.equal(p(pred, target), expected)
    lp = lpips.LPIPSLoss()
    assert torch.equal(lp(pred, target), lpips.lpips_distance(pred, target, lp.network))


# -- known values -------------------------------------------------------------------------
def test_l1_mse_charbonnier_known_values() -> None:
    a, b = torch.zeros(1, 2, 2, 2), torch.full((1, 2, 2, 2), 0.5)
    b[0, 0, 0, 0] = 1.5
    assert content.l1_loss(a, b).item() == pytest.approx((7 * 0.5 + 1.5) / 8)
    assert content.mse_loss(a, b).item() == pytest.approx((7 * 0.25 + 2.25) / 8)
    assert content.charbonnier_loss(a, a, eps=0.1).item() == pytest.approx(0.1)
    assert content.charbonnier_loss(a, b, eps=1e-6).item() == pytest.approx(content.l1_loss(a, b).item())


def test_tv_of_a_constant_image_is_zero_and_of_a_ramp_is_its_slope() -> None:
    assert content.tv_loss(torch.full((2, 13, 8, 8), 3.7)).item() == 0.0
    ramp = torch.arange(8.0).repeat(1, 4, 8, 1) * 0.25  # +0.25 per column, constant down the rows
    assert content.tv_loss(ramp).item() == pytest.approx(0.25)


def test_sam_known_values() -> None:
    a = torch.rand(2, 6, 5, 5) + 0.1
    assert structural.sam_loss(a, a).item() == 0.0
    assert structural.sam_loss(a, 7.5 * a).item() == pytest.approx(0.0, abs=1e-6)
    e1, e2 = torch.zeros(1, 4, 3, 3), torch.zeros(1, 4, 3, 3)
    e1[:, 0], e2[:, 2] = 1.0, 0.3
    assert structural.sam_loss(e1, e2).item() == pytest.approx(math.pi / 2)
    b = torch.rand(2, 6, 5, 5) + 0.1
    assert structural.sam_loss(2.0 * a, 0.5 * b).item() == pytest.approx(structural.sam_loss(a, b).item(), rel=1e-5)


def test_ssim_loss_is_zero_for_identical_images_and_matches_kornia() -> None:
    from kornia.losses import ssim_loss as kornia_ssim_loss

    a, b = torch.rand(2, 4, 16, 16), torch.rand(2, 4, 16, 16)
    assert structural.ssim_loss(a, a).item() == pytest.approx(0.0, abs=1e-6)
    # kornia's loss is (1 - SSIM) / 2
    assert structural.ssim_loss(a, b).item() == pytest.approx(2 * kornia_ssim_loss(a, b, 11).item(), rel=1e-5)
    assert structural.ssim_loss(2 * a, 2 * b, data_range=2.0).item() == pytest.approx(
        structural.ssim_loss(a, b).item(), rel=1e-5)


def test_weighted_mean_counts_only_the_weighted_region() -> None:
    pred, target = torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    target[..., :2] = 1.0  # errors of 1 in the left half only
    hole = torch.zeros(1, 1, 4, 4)
    hole[..., :2] = 1.0
    assert content.l1_loss(pred, target, weight=hole).item() == 1.0
    assert content.l1_loss(pred, target, weight=1 - hole).item() == 0.0
    assert content.l1_loss(pred, target).item() == 0.5
    assert content.l1_loss(pred, target, weight=torch.zeros(1, 1, 4, 4)).item() == 0.0
    with pytest.raises(ShapeError, match=r"weight of shape \(1, 1, 4, 4\) or \(1, 3, 4, 4\), got \(1, 2, 4, 4\)"):
        content.l1_loss(pred, target, weight=torch.ones(1, 2, 4, 4))


def test_shape_errors_name_both_shapes() -> None:
    with pytest.raises(ShapeError, match=r"sam loss expects pred and target of the same \(N, C, H, W\) shape, "
                                         r"got \(1, 3, 4, 4\) and \(1, 4, 4, 4\)"):
        ge.losses.build("sam")(torch.rand(1, 3, 4, 4), torch.rand(1, 4, 4, 4))


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="positive odd number, got 4"):
        ge.losses.build("ssim", window_size=4)
    with pytest.raises(ValueError, match="charbonnier eps must be positive"):
        ge.losses.build("charbonnier", eps=0.0)


# -- perceptual losses and their weights ---------------------------------------------------
def test_perceptual_layer_names_match_torchvision_indices(hub_cache: Path, fake_weights: dict[str, Path]) -> None:
    from torchvision.models.vgg import cfgs, make_layers

    reference = make_layers(cfgs["E"])
    saved = torch.load(fake_weights["vgg19-dcbb9e9d.pth"])
    reference.load_state_dict({k[len("features."):]: v for k, v in saved.items()})
    pred, target = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    loss = perceptual.PerceptualLoss(layers=["conv5_4"], criterion="mse")
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        fp, ft = (reference[:35]((x - mean) / std) for x in (pred, target))  # index 34 is conv5_4
        assert loss(pred, target).item() == pytest.approx((fp - ft).square().mean().item(), rel=1e-5)


def test_perceptual_band_selection_is_deterministic_and_covers_the_listed_bands(hub_cache: Path) -> None:
    auto = perceptual.PerceptualLoss(layers=["relu2_2"])
    first_three = perceptual.PerceptualLoss(layers=["relu2_2"], bands=[0, 1, 2])
    pred, target = torch.rand(2, 13, 16, 16), torch.rand(2, 13, 16, 16)
    assert torch.equal(auto(pred, target), auto(pred, target))
    changed = pred.clone()
    changed[:, 12] += 0.5
    assert auto(changed, target) != auto(pred, target), "the automatic triplets cover the last band"
    assert torch.equal(first_three(changed, target), first_three(pred, target))
    with pytest.raises(ShapeError, match=r"indices in \[0, 3\] for this 4-band image; got \[0, 1, 9\]"):
        perceptual.PerceptualLoss(layers=["relu2_2"], bands=[[0, 1, 2], [0, 1, 9]])(pred[:, :4], target[:, :4])


def test_band_triplets_defaults() -> None:
    from gan_engine.nn import band_triplets

    assert band_triplets(None, 1) == [(0, 0, 0)]
    assert band_triplets(None, 2) == [(0, 1, 0)]
    assert band_triplets(None, 3) == [(0, 1, 2)]
    assert band_triplets(None, 4) == [(0, 1, 2), (1, 2, 3)]
    assert band_triplets(None, 13) == [(0, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10, 11), (10, 11, 12)]
    assert band_triplets([3, 2, 1], 4) == [(3, 2, 1)]


def test_perceptual_input_is_imagenet_standardised(hub_cache: Path) -> None:
    from gan_engine.nn import to_imagenet

    grey_mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    assert to_imagenet(grey_mean, (0.0, 1.0)).abs().max() < 1e-6
    assert to_imagenet(grey_mean * 2 - 1, (-1.0, 1.0)).abs().max() < 1e-6


def test_pretrained_networks_stay_out_of_parameters_and_state_dict_but_follow_dtype(hub_cache: Path) -> None:
    for loss in (perceptual.PerceptualLoss(layers=["relu1_2"]), lpips.LPIPSLoss()):
        assert list(loss.parameters()) == [] and loss.state_dict() == {}
        loss.double()
        assert all(p.dtype == torch.float64 for p in (loss.extractor if hasattr(loss, "extractor") else
                                                      loss.network).inner.parameters())
        loss.train()
        inner = loss.extractor.inner if hasattr(loss, "extractor") else loss.network.inner
        assert not inner.training and not any(p.requires_grad for p in inner.parameters())


def test_missing_weights_raise_a_clear_error_and_nothing_is_downloaded(empty_hub_cache: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match=r"loss 'perceptual' needs the pretrained VGG19 weights: "
                                                   r"expected the file vgg19-dcbb9e9d\.pth in the torch hub cache"):
        ge.losses.build("perceptual")
    with pytest.raises(WeightsNotFoundError, match=r"weights_path='/path/to/alexnet-owt-7be5be79\.pth'"):
        ge.losses.build("lpips")
    with pytest.raises(WeightsNotFoundError, match=r"given weights_path='/no/such.pth' for VGG19, but no such file"):
        ge.losses.build("perceptual", weights_path="/no/such.pth")
    assert isinstance(WeightsNotFoundError("x"), ge.GanEngineError)


def test_explicit_weights_path_and_bad_files(fake_weights: dict[str, Path], empty_hub_cache: Path,
                                             tmp_path: Path) -> None:
    loss = ge.losses.build("perceptual", layers=["relu1_1"], weights_path=str(fake_weights["vgg19-dcbb9e9d.pth"]))
    assert loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)).item() >= 0
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ge.CheckpointError, match=r"cannot read the weights file .*garbage\.pth"):
        ge.losses.build("perceptual", weights_path=str(bad))
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(ge.CheckpointError, match="does not match the network"):
        ge.losses.build("perceptual", weights_path=str(wrong))


def test_lpips_matches_the_torchmetrics_reference(fake_weights: dict[str, Path], empty_hub_cache: Path) -> None:
    from torchmetrics.functional.image.lpips import _LPIPS

    reference = _LPIPS(pretrained=True, net="alex", pnet_rand=True).eval()  # bundled heads, random backbone
    backbone = {f"features.{k.split('.', 1)[1]}": v for k, v in reference.net.state_dict().items()}
    path = fake_weights["lpips_alex.pth"].parent / "reference-alexnet.pth"
    torch.save(backbone, path)
    ours = lpips.LPIPSLoss(weights_path=path)  # heads: torchmetrics' bundled copy (empty hub cache)
    pred, target = torch.rand(3, 3, 48, 48), torch.rand(3, 3, 48, 48)
    with torch.no_grad():
        expected = reference(pred * 2 - 1, target * 2 - 1).flatten()
        got = lpips.lpips_distance(pred, target, ours.network, reduction="none")
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-6)
    assert lpips.lpips_distance(pred, pred, ours.network).item() == 0.0


def test_contract_catches_a_loss_that_sums_instead_of_averaging_weights() -> None:
    class Summing(torch.nn.Module):
        kind = "content"

        def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
            base.check_pair(pred, target, "summing loss")
            err = (pred - target).abs()
            return err.mean() if weight is None else (err * weight).mean()

    from gan_engine.testing import ContractViolation

    with pytest.raises(ContractViolation, match="scaling every weight by a constant changed the loss"):
        check_content_loss(Summing(), gradcheck=False)
    with pytest.raises(ContractViolation, match="must declare kind = 'content', got None"):
        check_content_loss(torch.nn.L1Loss())


def test_weighted_mean_does_not_overflow_in_half_precision() -> None:
    ones = torch.ones(1, 1, 512, 512, dtype=torch.float16)  # 262144 > the largest float16 (65504)
    assert content.l1_loss(ones, torch.zeros_like(ones), weight=ones).item() == 1.0
