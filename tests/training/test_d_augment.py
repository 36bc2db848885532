"""Discriminator augmentation (Training.d_augment): the transformations, ADA's p, and training with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from engine_helpers import SaveAt, fit, tiny_module

from gan_engine.errors import ShapeError
from gan_engine.training.augment import POLICIES, DiscriminatorAugment


def _images(bands: int, n: int = 8, size: int = 16) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(n, bands, size, size)


@pytest.mark.parametrize("bands", [1, 3, 4, 13])
@pytest.mark.parametrize("policy", POLICIES)
def test_each_augmentation_keeps_shape_and_changes_samples(policy: str, bands: int) -> None:
    x = _images(bands)
    out, = DiscriminatorAugment([policy], p=1.0)(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    changed = (out - x).flatten(1).abs().amax(1) > 1e-6
    if policy == "color" and bands == 1:
        assert changed.sum() >= 4  # brightness and contrast still act on one band
    else:
        assert changed.sum() >= 4, f"{policy} left {int((~changed).sum())} of 8 samples unchanged"


def test_probability_zero_is_the_identity_and_one_touches_every_sample() -> None:
    x = _images(3, n=64)
    aug = DiscriminatorAugment(["translation", "color", "cutout", "flip", "rotate90"], p=0.0)
    torch.testing.assert_close(aug(x)[0], x)  # colour's identity factors round at 1e-7
    aug.p.fill_(0.5)
    touched = ((aug(x)[0] - x).flatten(1).abs().amax(1) > 1e-5).float().mean()
    assert 0.8 < float(touched) <= 1.0  # 1 - 0.5⁵ ≈ 0.97 of the samples get at least one


def test_real_and_fake_of_one_call_get_the_same_transformation() -> None:
    real, fake = _images(3), _images(3) * 0.5
    torch.manual_seed(1)
    a_real, a_fake = DiscriminatorAugment(list(POLICIES), p=1.0)(real, fake)
    # every step but colour is linear in the image, so a scaled input gives a scaled output where colour is off
    geo = DiscriminatorAugment(["flip", "rotate90", "translation", "cutout"], p=1.0)
    torch.manual_seed(2)
    g_real, g_fake = geo(real, fake)
    torch.testing.assert_close(g_fake, g_real * 0.5)
    assert a_real.shape == a_fake.shape


def test_augmentation_follows_the_global_seed() -> None:
    aug = DiscriminatorAugment(list(POLICIES), p=0.7)
    x = _images(4)
    torch.manual_seed(3)
    first = aug(x)[0]
    torch.manual_seed(3)
    again = aug(x)[0]
    assert torch.equal(first, again) and not torch.equal(first, aug(x)[0])


@pytest.mark.parametrize("policy", POLICIES)
def test_gradients_flow_through_every_augmentation(policy: str) -> None:
    x = _images(3).requires_grad_(True)
    out, = DiscriminatorAugment([policy], p=1.0)(x)
    (out * torch.linspace(0, 1, out.numel()).reshape(out.shape)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_augmentation_supports_the_double_backward_of_r1() -> None:
    x = _images(3).requires_grad_(True)
    w = torch.rand(3, 16, 16, requires_grad=True)
    out, = DiscriminatorAugment(list(POLICIES), p=1.0)(x)
    score = (out * w).sum()
    grad, = torch.autograd.grad(score, x, create_graph=True)
    grad.pow(2).sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_rotate90_refuses_non_square_inputs_and_batches_must_match() -> None:
    with pytest.raises(ShapeError, match=r"rotate90 .* square"):
        DiscriminatorAugment(["rotate90"])(torch.rand(2, 3, 8, 12))
    with pytest.raises(ShapeError, match="one shape"):
        DiscriminatorAugment(["flip"])(torch.rand(2, 3, 8, 8), torch.rand(3, 3, 8, 8))
    with pytest.raises(ValueError, match="unknown augmentation"):
        DiscriminatorAugment(["zoom"])  # type: ignore[list-item]


def test_ada_raises_p_when_the_discriminator_wins_and_lowers_it_when_it_loses() -> None:
    aug = DiscriminatorAugment(["translation"], p=0.2, adaptive=True, target=0.6, speed_images=1000)
    for _ in range(4):
        aug.observe(torch.full((8, 1), 5.0))  # D says "real" to every real: it overfits
    aug.adjust(images=100)
    assert float(aug.p) == pytest.approx(0.3) and torch.equal(aug.signs, torch.zeros(2))
    for _ in range(4):
        aug.observe(torch.randn(8, 1) - 3.0)  # D is fooled
    aug.adjust(images=100)
    assert float(aug.p) == pytest.approx(0.2)
    aug.p.fill_(0.98)
    aug.observe(torch.ones(4))
    aug.adjust(images=1000)
    assert float(aug.p) == 1.0  # clipped
    fixed = DiscriminatorAugment(["translation"], p=0.5)
    fixed.observe(torch.ones(4))
    fixed.adjust(images=10_000)
    assert float(fixed.p) == 0.5


ADA = {"Training.d_augment.policy": ["translation", "color", "cutout", "flip", "rotate90"],
       "Training.d_augment.adaptive": True, "Training.d_augment.interval": 1, "Training.d_augment.speed_images": 20,
       "Training.max_steps": 6, "Training.pretrain_steps": 1}


@pytest.mark.parametrize("options", [
    {"Training.d_augment.policy": ["translation", "cutout", "color"]},
    {"Training.d_augment.policy": ["flip", "rotate90"], "Training.Stability.r1_gamma": 1.0,
     "Training.Stability.d_reg_every": 1},
    {"Training.d_augment.policy": ["translation"], "Training.Stability.r1_gamma": 1.0,
     "Training.Stability.d_reg_every": 2},
    {"Training.d_augment.policy": ["color"], "Losses.adversarial.name": "wasserstein",
     "Training.Stability.gp_weight": 1.0},
    {"Training.d_augment.policy": ["cutout"], "Losses.adversarial.name": "relativistic"},
], ids=["diffaugment", "r1-every-step", "lazy-r1", "wgan-gp", "relativistic"])
def test_a_two_iteration_training_runs_with_each_option(tmp_path: Path, options: dict[str, Any]) -> None:
    module = tiny_module({**options, "Training.max_steps": 3, "Training.pretrain_steps": 1})
    fit(module, tmp_path)
    assert module.iteration == 3 and module.d_augment is not None
    assert float(module.d_augment.p) == 1.0


@pytest.mark.parametrize("options", [{}, {"Training.Stability.r1_gamma": 1.0, "Training.Stability.d_reg_every": 2},
                                     {"Losses.feature_matching": 1.0}],
                         ids=["d-and-g-steps", "lazy-r1", "feature-matching"])
def test_every_discriminator_input_of_every_phase_goes_through_the_augmentation(tmp_path: Path,
                                                                                options: dict[str, Any]) -> None:
    module = tiny_module({"Training.d_augment.policy": ["cutout"], **options})
    calls: list[int] = []

    def blank(*images: torch.Tensor) -> tuple[torch.Tensor, ...]:  # marks what went through it
        calls.append(len(images))
        return tuple(x * 0 for x in images)

    module.objective.augment = blank
    seen: list[torch.Tensor] = []
    module.discriminator.register_forward_hook(lambda m, args, out: seen.append(args[0].detach()))
    fit(module, tmp_path)
    assert seen and all(float(x.abs().max()) == 0 for x in seen)
    assert 2 in calls  # real and fake of a discriminator step share one call


def test_ada_p_is_logged_saved_in_checkpoints_and_restored_on_resume(tmp_path: Path) -> None:
    straight = tiny_module(ADA)
    fit(straight, tmp_path / "a", callbacks=[SaveAt(3, tmp_path / "mid.ckpt")])
    saved = torch.load(tmp_path / "mid.ckpt", weights_only=False)
    p_mid = saved["state_dict"]["d_augment.p"]
    assert saved["gan_engine"]["iteration"] == 3 and 0 < float(p_mid) < 1
    assert float(straight.d_augment.p) != float(p_mid)  # it kept moving after iteration 3
    resumed = tiny_module(ADA, seed=1)  # other initial weights: everything must come from the checkpoint
    seen: list[float] = []
    original = resumed._steer_augmentation

    def record(*args: Any) -> None:
        seen.append(float(resumed.d_augment.p))
        original(*args)

    resumed._steer_augmentation = record  # type: ignore[method-assign]
    fit(resumed, tmp_path / "b", ckpt_path=tmp_path / "mid.ckpt")
    assert resumed.iteration == 6 and seen[0] == float(p_mid)  # the first resumed iteration starts from the saved p
    assert float(resumed.d_augment.p) == float(straight.d_augment.p)
    a, b = straight.state_dict(), resumed.state_dict()
    assert not [k for k in a if not torch.equal(a[k], b[k])]
