"""Adversarial objectives: known values, smoothing, gradients, module ≡ function, registry capabilities."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import gan_engine as ge
from gan_engine.components.losses import adversarial as adv

NAMES = ["bce", "hinge", "wasserstein", "lsgan", "relativistic"]
D_FUNCS = {
    "bce": adv.bce_d_loss, "hinge": lambda r, f, s=0.0: adv.hinge_d_loss(r, f),
    "wasserstein": lambda r, f, s=0.0: adv.wasserstein_d_loss(r, f), "lsgan": adv.lsgan_d_loss,
    "relativistic": adv.relativistic_d_loss,
}
G_FUNCS = {
    "bce": lambda f, r: adv.bce_g_loss(f), "hinge": lambda f, r: adv.hinge_g_loss(f),
    "wasserstein": lambda f, r: adv.wasserstein_g_loss(f), "lsgan": lambda f, r: adv.lsgan_g_loss(f),
    "relativistic": adv.relativistic_g_loss,
}


def test_every_objective_is_registered_with_its_capabilities() -> None:
    for name in NAMES:
        cls = ge.losses.get(name)
        assert cls.kind == "adversarial"
    assert ge.losses.get("relativistic").needs_real_logits
    assert not any(ge.losses.get(n).needs_real_logits for n in NAMES if n != "relativistic")
    assert ge.losses.get("wasserstein").is_critic
    assert {n for n in NAMES if ge.losses.get(n).supports_label_smoothing} == {"bce", "lsgan", "relativistic"}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(4, 1), (4, 1, 3, 5)])
def test_module_equals_function_and_returns_a_scalar(name: str, shape: tuple[int, ...]) -> None:
    loss = ge.losses.build(name)
    real, fake = torch.randn(shape), torch.randn(shape)
    s = 0.1 if loss.supports_label_smoothing else 0.0
    d = loss.discriminator_loss(real, fake, s)
    g = loss.generator_loss(fake, real)
    assert d.shape == () and g.shape == ()
    torch.testing.assert_close(d, D_FUNCS[name](real, fake, s))
    torch.testing.assert_close(g, G_FUNCS[name](fake, real))


@pytest.mark.parametrize("name", NAMES)
def test_gradients_match_finite_differences_in_float64(name: str) -> None:
    real = torch.randn(3, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    fake = torch.randn(3, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    # hinge has kinks at ±1; random normals stay away from them almost surely
    assert torch.autograd.gradcheck(lambda r, f: D_FUNCS[name](r, f, 0.0), (real, fake))
    assert torch.autograd.gradcheck(lambda f: G_FUNCS[name](f, real.detach()), (fake,))


def test_known_values() -> None:
    zeros = torch.zeros(2, 1)
    assert adv.bce_d_loss(zeros, zeros).item() == pytest.approx(math.log(2))
    assert adv.bce_g_loss(zeros).item() == pytest.approx(math.log(2))
    assert adv.hinge_d_loss(torch.full((2, 1), 2.0), torch.full((2, 1), -2.0)).item() == 0.0
    assert adv.hinge_d_loss(zeros, zeros).item() == 2.0
    assert adv.hinge_g_loss(torch.tensor([[1.0], [3.0]])).item() == -2.0
    assert adv.wasserstein_d_loss(torch.tensor([[1.0], [3.0]]), torch.zeros(2, 1)).item() == -2.0
    assert adv.lsgan_d_loss(torch.full((2, 1), 0.9), zeros, 0.1).item() == pytest.approx(0.0)
    assert adv.lsgan_g_loss(torch.ones(2, 1)).item() == 0.0


def test_relativistic_against_an_independent_reference() -> None:
    real, fake = torch.randn(5, 1), torch.randn(5, 1)
    ls = F.logsigmoid
    ref_d = -0.5 * (ls(real - fake.mean()).mean() + ls(-(fake - real.mean())).mean())
    ref_g = -0.5 * (ls(fake - real.mean()).mean() + ls(-(real - fake.mean())).mean())
    torch.testing.assert_close(adv.relativistic_d_loss(real, fake), ref_d)
    torch.testing.assert_close(adv.relativistic_g_loss(fake, real), ref_g)


def test_relativistic_generator_loss_treats_real_outputs_as_constants() -> None:
    real = torch.randn(4, 1, requires_grad=True)
    fake = torch.randn(4, 1, requires_grad=True)
    adv.relativistic_g_loss(fake, real).backward()
    assert real.grad is None and fake.grad is not None


def test_relativistic_module_without_real_logits_says_what_is_missing() -> None:
    with pytest.raises(ValueError, match="needs the discriminator's outputs on real images"):
        ge.losses.build("relativistic").generator_loss(torch.zeros(2, 1))


def test_one_sided_label_smoothing_moves_only_the_real_target() -> None:
    """With smoothing s, D's real loss is minimal where sigmoid(D(x)) = 1 - s; G's target stays 1."""
    fake = torch.full((1, 1), -30.0)  # a confident fake score: its term is ~constant
    real = torch.full((1, 1), math.log(0.9 / 0.1), requires_grad=True)  # sigmoid = 0.9
    adv.bce_d_loss(real, fake, 0.1).backward()
    assert real.grad is not None and abs(real.grad.item()) < 1e-6
    real.grad = None
    adv.bce_d_loss(real, fake, 0.0).backward()
    assert real.grad is not None and real.grad.item() < -1e-3  # without smoothing: push it higher
    g_fake = torch.full((1, 1), math.log(0.9 / 0.1), requires_grad=True)
    adv.bce_g_loss(g_fake).backward()
    assert g_fake.grad is not None and g_fake.grad.item() < -1e-3  # G's target is 1, not 0.9


def test_relativistic_smoothing_changes_only_the_real_term() -> None:
    """BCE(x, 1 - s) - BCE(x, 1) = s·x, so the smoothed loss differs by s/2 · mean(D(x) - mean D(G(z)))."""
    real, fake = torch.randn(6, 1), torch.randn(6, 1)
    diff = adv.relativistic_d_loss(real, fake, 0.2) - adv.relativistic_d_loss(real, fake, 0.0)
    torch.testing.assert_close(diff, 0.5 * 0.2 * (real - fake.mean()).mean())


def test_lsgan_smoothing_moves_the_real_target() -> None:
    real = torch.full((3, 1), 0.8, requires_grad=True)
    adv.lsgan_d_loss(real, torch.zeros(3, 1), 0.2).backward()
    assert real.grad is not None and torch.all(real.grad == 0)


def test_feature_matching_is_zero_for_equal_features_and_ignores_real_gradients() -> None:
    feats = [torch.randn(2, 3, 4, 4), torch.randn(2, 5, 2, 2)]
    assert adv.feature_matching_loss(feats, feats).item() == 0.0
    fake = [f.clone().requires_grad_(True) + 1.0 for f in feats]
    real = [f.clone().requires_grad_(True) for f in feats]
    loss = adv.feature_matching_loss(fake, real)
    assert loss.item() == pytest.approx(1.0)
    loss.backward()
    assert all(r.grad is None for r in real)
    with pytest.raises(ValueError, match="same, non-zero number of layers"):
        adv.feature_matching_loss(feats, feats[:1])


def test_base_class_methods_explain_what_is_missing() -> None:
    with pytest.raises(TypeError, match="does not define discriminator_loss"):
        adv.AdversarialLoss().discriminator_loss(torch.zeros(1), torch.zeros(1))
