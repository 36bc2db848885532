"""Ramps, warm-ups, learning-rate schedules and optimizer parameter groups."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch
from engine_helpers import fit, tiny_module
from torch import nn

from gan_engine.training.optim import IterationLR, build_optimizer, parameter_groups
from gan_engine.training.schedules import adversarial_weight, plan_iteration, ramp, warmup_factor


def test_ramps_start_at_zero_end_at_one_and_are_monotone() -> None:
    for name in ("linear", "cosine", "sigmoid"):
        values = [ramp(p / 20, name) for p in range(21)]
        assert values[0] == pytest.approx(0.0, abs=1e-12) and values[-1] == pytest.approx(1.0)
        assert all(b >= a for a, b in itertools.pairwise(values))
    assert ramp(0.25, "cosine") == pytest.approx(0.5 * (1 - math.cos(math.pi / 4)))
    assert ramp(0.5, "sigmoid") == pytest.approx(0.5)
    assert ramp(0.0, "none") == 1.0
    with pytest.raises(ValueError, match="unknown ramp 'cubic'"):
        ramp(0.5, "cubic")


def test_adversarial_weight_is_zero_in_pretraining_then_reaches_beta_after_the_ramp() -> None:
    assert [adversarial_weight(i, 3, 2.0, 4, "cosine") for i in range(3)] == [0.0, 0.0, 0.0]
    ramped = [adversarial_weight(i, 3, 2.0, 4, "cosine") for i in range(3, 10)]
    assert ramped[0] == pytest.approx(2.0 * 0.5 * (1 - math.cos(math.pi / 4)))
    assert ramped[3:] == [2.0] * 4
    assert adversarial_weight(0, 0, 2.0, 0, "cosine") == 2.0  # no ramp: full weight at once


def test_plan_of_critic_style_training() -> None:
    plans = [plan_iteration(i, pretrain_steps=1, d_update_interval=1, g_update_interval=5, r1_interval=4, weight=1.0,
                            ramp_steps=0, ramp_schedule="none") for i in range(7)]
    assert [p.generator_step for p in plans] == [True, True, False, False, False, False, True]
    assert [p.discriminator_step for p in plans] == [False] + [True] * 6
    assert [p.regularizer_step for p in plans] == [False, True, False, False, False, True, False]


def test_warmup_follows_the_floored_curve_then_stays_at_one() -> None:
    w = 10
    for k in range(w):
        assert warmup_factor(k, w, "linear", 0.05) == pytest.approx(max(0.05, (k + 1) / w))
        cosine = 0.5 * (1 - math.cos(math.pi * (k + 1) / w))
        assert warmup_factor(k, w, "cosine", 0.05) == pytest.approx(max(0.05, cosine))
    assert warmup_factor(w, w, "cosine", 0.05) == warmup_factor(10 * w, w, "cosine", 0.05) == 1.0
    assert warmup_factor(0, 1000, "cosine", 0.05) == 0.05  # never stuck near 0


def _sched(**kw: object) -> IterationLR:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    return IterationLR(opt, **kw)  # type: ignore[arg-type]


def _lrs(s: IterationLR, n: int) -> list[float]:
    out = []
    for _ in range(n):
        out.append(s.optimizer.param_groups[0]["lr"])
        s.optimizer.step()
        s.step()
    return out


def test_cosine_and_onecycle_shapes() -> None:
    lrs = _lrs(_sched(name="cosine", total_steps=10, warmup_steps=2, min_lr_ratio=0.1), 12)
    assert lrs[:2] == pytest.approx([0.5, 1.0])
    assert lrs[2] == pytest.approx(1.0) and lrs[10] == pytest.approx(0.1) and lrs[11] == pytest.approx(0.1)
    assert all(b <= a for a, b in itertools.pairwise(lrs[2:]))
    one = _lrs(_sched(name="onecycle", total_steps=10, pct_start=0.3), 11)
    assert one[0] == pytest.approx(1 / 25) and max(one) == pytest.approx(1.0) and one.index(1.0) == 3
    assert one[10] == pytest.approx(1 / 25_000)


def test_plateau_cuts_after_patience_and_a_warmup_never_overwrites_a_cut() -> None:
    s = _sched(name="plateau", warmup_steps=4, patience=2, factor=0.5, mode="max")
    assert [s.observe(v) for v in (1.0, 2.0, 1.5, 1.9, 1.0)] == [False, False, False, False, True]
    assert s.optimizer.param_groups[0]["lr"] == pytest.approx(0.5 * 0.25)  # cut applied during the warm-up
    assert _lrs(s, 6)[-1] == pytest.approx(0.5)  # warm-up done: the cut is still there
    assert not s.observe(float("nan")) and s.bad_validations == 1  # a NaN metric is no improvement


def test_scheduler_state_round_trips() -> None:
    s = _sched(name="plateau", patience=0)
    s.observe(1.0)
    s.observe(0.5)
    _lrs(s, 3)
    t = _sched(name="plateau", patience=0)
    t.load_state_dict(s.state_dict())
    assert t.multiplier == 0.5 and t.best == 1.0 and t.last_epoch == 3


def test_no_decay_groups_exempt_biases_and_norm_weights() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.PReLU())
    groups = parameter_groups(net, 0.1, True)
    assert [len(g["params"]) for g in groups] == [1, 4]
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert len(parameter_groups(net, 0.1, False)) == 1
    opt = build_optimizer(net, name="adamw", lr=1e-3, betas=[0.5, 0.9], eps=1e-8, weight_decay=0.1,
                          no_decay_bias_and_norm=True, fused=True)
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["fused"] and opt.defaults["betas"] == (0.5, 0.9)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        build_optimizer(net, name="sgd", lr=1e-3, betas=[0.5, 0.9], eps=1e-8, weight_decay=0.0,
                        no_decay_bias_and_norm=True, fused=False)


def test_generator_warmup_during_training_counts_iterations() -> None:
    module = tiny_module({"Training.max_steps": 4, "Schedulers.generator.warmup_steps": 4,
                          "Schedulers.generator.warmup": "linear", "Optimizers.generator.lr": 1e-3})
    fit(module)
    g, _ = module.schedules()
    assert [g.factor_at(k) for k in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert g.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_plateau_schedule_during_training_warns_once_about_a_missing_monitor() -> None:
    module = tiny_module({"Training.max_steps": 8, "Schedulers.generator.name": "plateau",
                          "Schedulers.generator.monitor": "val/nope", "Data.train_size": 4})
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit(module, limit_val_batches=1)  # 4 validations
    missing = [w for w in record if "'val/nope'" in str(w.message)]
    assert len(missing) == 1 and "val/psnr" in str(missing[0].message)


def test_plateau_schedule_during_training_cuts_on_its_metric() -> None:
    module = tiny_module({"Training.max_steps": 8, "Schedulers.generator.name": "plateau",
                          "Schedulers.generator.monitor": "val/psnr_bicubic", "Schedulers.generator.patience": 1,
                          "Data.train_size": 4, "Optimizers.generator.lr": 1e-3})
    fit(module, limit_val_batches=1)  # the bicubic PSNR never improves: cut after 2 flat validations
    g, _ = module.schedules()
    assert g.best is not None and g.multiplier == 0.5
    assert g.optimizer.param_groups[0]["lr"] == pytest.approx(5e-4)


@pytest.mark.parametrize("d_interval", [1, 2])
@pytest.mark.parametrize("k", [2, 4])
def test_lazy_r1_is_as_strong_per_discriminator_step_as_r1_every_step(d_interval: int, k: int) -> None:
    """Lazy R1 applies gain k on every k-th discriminator step: k · (steps / k) = one unit per D step."""
    plans = [plan_iteration(i, pretrain_steps=0, d_update_interval=d_interval, g_update_interval=1, r1_interval=k,
                            weight=1.0, ramp_steps=0, ramp_schedule="none") for i in range(240)]
    d_steps = sum(p.discriminator_step for p in plans)
    lazy_gain = k * sum(p.regularizer_step for p in plans)  # regulariser_phase multiplies R1 by d_reg_every = k
    assert d_steps == 240 // d_interval and lazy_gain == d_steps  # R1 every D step: gain 1 on each of them
    assert all(p.discriminator_step for p in plans if p.regularizer_step)  # lazy steps ride on D steps
