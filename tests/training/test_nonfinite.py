"""Non-finite losses: never replaced by a number; the update is skipped and counted, or training stops."""

from __future__ import annotations

import math
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from engine_helpers import MemoryLogger, Recorder, fit, same, tiny_module
from torch import Tensor, nn

import gan_engine as ge
from gan_engine.components.losses.adversarial import BCEAdversarialLoss
from gan_engine.errors import GanEngineError
from gan_engine.training.nonfinite import NonFiniteGuard


class FlakyL1(nn.Module):
    """L1 that returns NaN on the listed calls (0-based)."""

    kind: ClassVar[str] = "content"

    def __init__(self, bad: list[int] | None = None) -> None:
        super().__init__()
        self.bad, self.calls = set(bad or []), 0

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        loss = F.l1_loss(pred, target)
        self.calls += 1
        return loss * math.nan if self.calls - 1 in self.bad else loss


class FlakyBCE(BCEAdversarialLoss):
    """BCE whose discriminator loss is infinite on the listed discriminator steps (0-based)."""

    def __init__(self, bad: list[int] | None = None) -> None:
        super().__init__()
        self.bad, self.calls = set(bad or []), 0

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
        loss = super().discriminator_loss(real_logits, fake_logits, label_smoothing)
        self.calls += 1
        return loss * math.inf if self.calls - 1 in self.bad else loss


def _module(bad_content: list[int] | None = None, **over: object):  # type: ignore[no-untyped-def]
    ge.losses.register("flaky", FlakyL1)
    ge.losses.register("flaky_bce", FlakyBCE)
    over = {"Losses.content": [{"name": "flaky", "bad": bad_content or []}], **over}
    return tiny_module(over)


def test_a_nonfinite_generator_loss_skips_that_update_and_is_counted_not_replaced() -> None:
    module = _module([2], **{"Training.max_steps": 4})
    rec, logger = Recorder(), MemoryLogger()
    fit(module, logger=logger, callbacks=[rec])
    assert module.iteration == 4
    assert same(rec.generator[1], rec.generator[2])  # iteration 3 left the generator as it was
    assert not same(rec.generator[2], rec.generator[3])  # and training went on
    assert not same(rec.discriminator[1], rec.discriminator[2])  # the discriminator's finite step happened
    rows = [row for _, row in logger.rows]
    assert math.isnan(rows[2]["train/content/flaky"]) and math.isnan(rows[2]["train/g_total"])
    assert [r["train/nonfinite_skipped"] for r in rows] == [0, 0, 1, 1]
    assert all(torch.isfinite(p).all() for p in module.generator.parameters())


def test_a_nonfinite_discriminator_loss_skips_only_the_discriminator_update() -> None:
    module = _module(**{"Training.max_steps": 4, "Losses.adversarial.name": "flaky_bce",
                        "Losses.adversarial.bad": [1]})
    rec = Recorder()
    fit(module, callbacks=[rec])
    assert same(rec.discriminator[1], rec.discriminator[2])  # D's second step (iteration 3) skipped
    assert not same(rec.generator[1], rec.generator[2])
    assert all(torch.isfinite(p).all() for p in module.discriminator.parameters())


def test_consecutive_nonfinite_iterations_stop_training_naming_the_term_and_iterations() -> None:
    module = _module([1, 2, 3], **{"Training.max_steps": 8})
    rec = Recorder()
    with pytest.raises(GanEngineError, match=r"3 consecutive iterations, 2 to 4: content/flaky, g_total"):
        fit(module, callbacks=[rec])
    assert len(rec.outputs) == 3  # raised on iteration 4, the first logging iteration that saw the streak


def test_the_streak_limit_is_configurable_and_a_broken_streak_resets_it() -> None:
    module = _module([1, 2, 4, 5], **{"Training.max_steps": 7, "Training.Stability.max_nonfinite": 3})
    fit(module)  # two streaks of 2: no error
    assert module.nonfinite.summary()["skipped"] == 4
    module = _module([1, 2], **{"Training.max_steps": 7, "Training.Stability.max_nonfinite": 2})
    with pytest.raises(GanEngineError, match="2 consecutive iterations, 2 to 3"):
        fit(module)


def test_raise_policy_stops_at_the_first_nonfinite_loss() -> None:
    module = _module([1], **{"Training.max_steps": 4, "Training.Stability.nonfinite": "raise"})
    with pytest.raises(GanEngineError, match=r"non-finite loss at iteration 2: content/flaky.*nonfinite is 'raise'"):
        fit(module)
    assert module.iteration == 1


def test_the_skip_path_needs_no_host_synchronisation(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = NonFiniteGuard(["a", "b"])
    p = nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([p], lr=0.1, fused=True)
    p.grad = torch.full((3,), math.nan)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("host synchronisation")

    with monkeypatch.context() as m:
        for name in ("item", "tolist", "__bool__", "__int__", "__float__", "cpu", "numpy"):
            m.setattr(torch.Tensor, name, forbidden)
        flag = guard.observe({"a": torch.tensor(1.0), "b": torch.tensor(math.nan)}, iteration=0)
        assert guard.guard_step(opt, flag)  # the fused kernel skips on the device
        opt.step()
        guard.end_iteration()
    assert torch.equal(p.detach(), torch.ones(3))  # neither the weights nor the moments moved
    assert opt.state[p]["step"] == 0 and not opt.state[p]["exp_avg"].any() and not opt.state[p]["exp_avg_sq"].any()
    assert guard.summary() == {"streak": 1, "skipped": 1, "hit_iteration": -1, "hit_terms": []}


def test_without_a_fused_kernel_the_step_is_not_called() -> None:
    guard = NonFiniteGuard(["a"])
    opt = torch.optim.Adam([nn.Parameter(torch.ones(1))], fused=False)
    assert not guard.guard_step(opt, guard.observe({"a": torch.tensor(math.inf)}, iteration=0))
    assert guard.guard_step(opt, guard.observe({"a": torch.tensor(1.0)}, iteration=0))


def test_guard_state_survives_a_checkpoint() -> None:
    guard = NonFiniteGuard(["a", "b"], max_consecutive=2)
    guard.observe({"b": torch.tensor(math.nan)}, iteration=0)
    guard.end_iteration()
    restored = NonFiniteGuard(["a", "b"], max_consecutive=2)
    restored.load_state_dict(guard.state_dict())
    restored.observe({"b": torch.tensor(math.nan)}, iteration=1)
    restored.end_iteration()
    with pytest.raises(GanEngineError, match="iterations, 1 to 2: b"):
        restored.check()
    with pytest.raises(ValueError, match="unknown non-finite policy"):
        NonFiniteGuard(["a"], policy="ignore")


def _reference(iterations: list[list[dict[str, float]]], terms: list[str], limit: int) -> list[dict[str, object]]:
    """The counters after each iteration, updated one iteration at a time (the policy's definition)."""
    streak = skipped = 0
    hit, hit_terms, after = -1, [], []
    for i, phases in enumerate(iterations):
        bad = {n for phase in phases for n, v in phase.items() if not math.isfinite(v)}
        streak = streak + 1 if bad else 0
        skipped += bool(bad)
        if streak >= limit and hit < 0:
            hit, hit_terms = i + 1, [n for n in terms if n in bad]
        after.append({"streak": streak, "skipped": skipped, "hit_iteration": hit, "hit_terms": hit_terms})
    return after


@pytest.mark.parametrize(("limit", "fold_every", "seed"), [(2, 5, 0), (3, 64, 1), (5, 7, 2), (4, 1, 3)])
def test_folded_counters_equal_the_per_iteration_definition_across_folds_and_a_checkpoint(
        limit: int, fold_every: int, seed: int) -> None:
    groups = [("d_real", "d_fake", "d_total"), ("r1",), ("content", "adversarial", "g_total")]
    terms = [n for g in groups for n in g]
    rng = torch.Generator().manual_seed(seed)
    p_bad = [0.0, 0.3, 0.05][seed % 3] if limit > 2 else 0.02

    def value() -> float:
        return math.nan if torch.rand((), generator=rng) < p_bad else float(torch.rand((), generator=rng))

    iterations = [[{n: value() for n in g} for g in groups if torch.rand((), generator=rng) < 0.7]
                  for _ in range(300)]
    iterations[40:40 + limit] = [[{"r1": math.inf}]] * limit  # one streak that reaches the limit, at the latest
    expected = _reference(iterations, terms, limit)

    guard = NonFiniteGuard(terms, max_consecutive=limit)
    guard.fold_every = fold_every
    for i, phases in enumerate(iterations):
        if i == 150:  # resumed from a checkpoint: a fresh guard continues the counters
            state = guard.state_dict()
            guard = NonFiniteGuard(terms, max_consecutive=limit)
            guard.fold_every = fold_every
            guard.load_state_dict(state)
        for phase in phases:
            stacked = i % 2 == 0  # accumulation: terms of shape (micro-batches,)
            values = {n: torch.tensor([v, 0.5] if stacked else v) for n, v in phase.items()}
            flag = guard.observe(values, iteration=i)
            assert flag.item() == float(any(not math.isfinite(v) for v in phase.values()))
        if i % 37 == 5:  # read mid-iteration: the running iteration is not counted yet
            assert guard.summary() == (expected[i - 1] if i else _NO_HIT_EXPECTED)
        guard.end_iteration()
        if i % 23 == 0 or i == len(iterations) - 1:
            assert guard.summary() == expected[i], f"after iteration {i + 1}"
    assert expected[-1]["hit_iteration"] > 0  # the sequence did exercise the limit


_NO_HIT_EXPECTED = {"streak": 0, "skipped": 0, "hit_iteration": -1, "hit_terms": []}


def test_the_hot_path_launches_a_few_kernels_per_phase_and_none_per_iteration() -> None:
    guard = NonFiniteGuard(["a", "b", "c"])
    terms = {"a": torch.tensor(1.0), "b": torch.tensor(2.0), "c": torch.tensor(3.0)}
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for i in range(10):
            guard.observe(terms, iteration=i)
            guard.end_iteration()
    views = {"aten::detach", "aten::view", "aten::reshape", "aten::alias"}
    ops = [e.name for e in prof.events() if e.name.startswith("aten::") and e.cpu_parent is None
           and e.name not in views]
    assert len(ops) <= 10 * 5, sorted(set(ops))  # was 8 per phase and 13 per iteration
