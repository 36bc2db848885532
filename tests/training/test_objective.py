"""The GAN objective on its own: per-phase losses of a micro-batch, with no optimizer or Trainer."""

from __future__ import annotations

import pytest
import torch
from engine_helpers import datamodule, tiny_module

import gan_engine as ge
from gan_engine.components.losses.penalties import GradientPenalty, R1Penalty, r1_penalty
from gan_engine.training.micro_batch import MicroBatch
from gan_engine.training.objective import GANObjective


def _micro_batch(module: ge.GANModule) -> MicroBatch:
    data = datamodule(module)
    data.setup("fit")
    return MicroBatch(module.prepare(next(iter(data.train_dataloader()))))


def test_each_phase_loss_is_the_sum_of_its_weighted_terms_and_steps_nothing() -> None:
    module = tiny_module({"Training.Stability.r1_gamma": 2.0, "Training.Stability.d_reg_every": 1,
                          "Training.Stability.gp_weight": 3.0,
                          "Losses.feature_matching": 0.5})
    obj, G, D = module.objective, module.generator, module.discriminator
    assert isinstance(obj.r1, R1Penalty) and isinstance(obj.gradient_penalty, GradientPenalty) and obj.r1_each_step
    mb = _micro_batch(module)
    before = [p.detach().clone() for p in [*G.parameters(), *D.parameters()]]
    d = obj.discriminator_loss(G, D, mb)
    assert set(d.terms) == {"d_adversarial", "r1", "gradient_penalty"}
    assert torch.allclose(d.loss, sum(d.terms.values()))  # type: ignore[arg-type]
    assert d.real_scores is not None and d.fake_scores is not None and d.real_scores.shape[0] == 2
    g = obj.generator_loss(G, D, mb, adversarial_weight=0.25)
    assert set(g.terms) == {"content/l1", "g_adversarial", "feature_matching", "g_total"}
    expected = g.terms["content/l1"] + 0.25 * g.terms["g_adversarial"] + 0.5 * g.terms["feature_matching"]
    assert torch.allclose(g.loss, expected) and g.loss is g.terms["g_total"]
    assert mb.generated is not None and not mb.generated.requires_grad
    g.loss.backward()  # the caller back-propagates; the objective changed no weight
    assert all(torch.equal(a, p) for a, p in zip(before, [*G.parameters(), *D.parameters()]))
    assert any(p.grad is not None for p in G.parameters())


def test_pretraining_leaves_the_discriminator_out_of_the_generator_loss() -> None:
    module = tiny_module()
    calls = []
    module.discriminator.register_forward_hook(lambda *_: calls.append(1))
    g = module.objective.generator_loss(module.generator, module.discriminator, _micro_batch(module),
                                        adversarial_weight=1.0, pretraining=True)
    assert set(g.terms) == {"content/l1", "g_total"} and calls == []


def test_lazy_r1_is_its_own_phase_with_the_gain_of_its_interval() -> None:
    module = tiny_module({"Training.Stability.r1_gamma": 2.0, "Training.Stability.d_reg_every": 4})
    obj, D = module.objective, module.discriminator
    assert obj.r1_lazy and not obj.r1_each_step
    mb = _micro_batch(module)
    assert "r1" not in obj.discriminator_loss(module.generator, D, mb).terms
    r = obj.regularizer_loss(D, mb)
    real = module.task.real(mb.batch).detach().float().requires_grad_(True)
    plain = r1_penalty(D(module.task.discriminator_input(real, mb.batch)), real)
    assert torch.allclose(r.loss, 0.5 * 2.0 * 4 * plain)
    with pytest.raises(RuntimeError, match="needs an R1 penalty"):
        GANObjective(module.task, obj.adversarial, obj.content, obj.content_weights).regularizer_loss(D, mb)


def test_the_penalties_are_the_registry_components_and_not_content_losses() -> None:
    assert ge.losses.get("r1") is R1Penalty and ge.losses.get("gradient_penalty") is GradientPenalty
    with pytest.raises(ge.ConfigError, match=r"Losses\.content\.0\.name.*discriminator penalty"):
        ge.load_config({"Losses": {"content": [{"name": "r1", "weight": 1.0, "gamma": 1.0}]}})
    with pytest.raises(ValueError, match="one weight per content term"):
        module = tiny_module()
        GANObjective(module.task, module.objective.adversarial, module.objective.content, {})
