"""R1, WGAN-GP and the lazy-regularisation correction."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_engine.components.losses.penalties import (
    GradientPenalty,
    R1Penalty,
    gradient_penalty,
    lazy_adam_hyperparameters,
    lazy_regularization_ratio,
    r1_penalty,
)


def _linear_image_critic(weight: torch.Tensor):
    return lambda x: (x * weight).flatten(1).sum(dim=1, keepdim=True)


def test_r1_of_a_linear_critic_is_the_squared_weight_norm() -> None:
    w = torch.randn(1, 3, 4, 4)
    real = torch.randn(5, 3, 4, 4, requires_grad=True)
    value = r1_penalty(_linear_image_critic(w)(real), real)
    torch.testing.assert_close(value, w.pow(2).sum())


def test_r1_module_applies_gamma_half_and_the_lazy_gain() -> None:
    w = torch.randn(1, 2, 3, 3)
    real = torch.randn(4, 2, 3, 3, requires_grad=True)
    out = _linear_image_critic(w)(real)
    torch.testing.assert_close(R1Penalty(gamma=10.0, interval=16)(out, real), 0.5 * 10.0 * 16 * r1_penalty(out, real))


def test_r1_of_a_patch_discriminator_does_not_grow_with_the_patch_count() -> None:
    torch.manual_seed(0)
    patch_d = nn.Conv2d(3, 1, 3, padding=1)  # one score per pixel: a patch map
    pooled_d = nn.Sequential(patch_d, nn.AdaptiveAvgPool2d(1), nn.Flatten())  # the same, one score per image
    small = torch.randn(4, 3, 8, 8, requires_grad=True)
    torch.testing.assert_close(r1_penalty(patch_d(small), small), r1_penalty(pooled_d(small), small))
    big = torch.randn(4, 3, 32, 32, requires_grad=True)  # 16 times more patches
    assert r1_penalty(patch_d(big), big) < r1_penalty(patch_d(small), small)


def test_r1_is_differentiable_twice_in_float64() -> None:
    d = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Tanh(), nn.Conv2d(4, 1, 3)).double()

    def penalty(x: torch.Tensor) -> torch.Tensor:
        return r1_penalty(d(x), x)

    x = torch.randn(2, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(penalty, (x,))
    penalty(x).backward()
    # every weight reaches the penalty; the last bias does not change the input gradient
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in list(d.parameters())[:-1])
    assert d[2].bias.grad is None


def test_r1_needs_inputs_that_require_grad() -> None:
    with pytest.raises(ValueError, match="requires_grad=True"):
        r1_penalty(torch.zeros(2, 1), torch.zeros(2, 3, 4, 4))


def test_gradient_penalty_of_linear_critics() -> None:
    real, fake = torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4)
    unit = torch.randn(1, 1, 4, 4)
    unit = unit / unit.norm()
    assert gradient_penalty(_linear_image_critic(unit), real, fake).item() == pytest.approx(0.0, abs=1e-6)
    assert gradient_penalty(_linear_image_critic(2 * unit), real, fake).item() == pytest.approx(1.0, abs=1e-5)
    gp = GradientPenalty(weight=10.0)(_linear_image_critic(2 * unit), real, fake)
    assert gp.item() == pytest.approx(10.0, abs=1e-4)


def test_gradient_penalty_reaches_the_critic_parameters() -> None:
    critic = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Softplus(), nn.Conv2d(2, 1, 3))
    gradient_penalty(critic, torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8)).backward()
    weights = [critic[0].weight, critic[0].bias, critic[2].weight]  # the last bias leaves input gradients alone
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(critic, torch.randn(3, 1, 8, 8), torch.randn(2, 1, 8, 8))


def test_lazy_correction_follows_k_over_k_plus_one() -> None:
    assert lazy_regularization_ratio(1) == 1.0
    assert lazy_regularization_ratio(16) == pytest.approx(16 / 17)
    lr, (b1, b2) = lazy_adam_hyperparameters(2e-3, (0.0, 0.99), 16)
    assert lr == pytest.approx(2e-3 * 16 / 17)
    assert b1 == 0.0 and b2 == pytest.approx(0.99 ** (16 / 17))
    assert lazy_adam_hyperparameters(1e-3, (0.5, 0.9), 1) == (1e-3, (0.5, 0.9))


def test_penalty_modules_reject_negative_weights() -> None:
    with pytest.raises(ValueError, match="gamma ≥ 0"):
        R1Penalty(gamma=-1.0)
    with pytest.raises(ValueError, match="weight ≥ 0"):
        GradientPenalty(weight=-1.0)
