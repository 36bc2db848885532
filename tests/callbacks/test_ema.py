"""EMA of the generator: warm-up maths, swapping, persistence, devices and re-seeding."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from engine_helpers import Recorder, SaveAt, callback, datamodule, fit, snapshot, tiny_module, trainer
from torch import nn

import gan_engine as ge
from gan_engine.components.callbacks.ema import EMA, decay_at


class _Holder(nn.Module):
    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.discriminator = nn.Linear(1, 1)


def _one_parameter() -> _Holder:
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    return _Holder(net)


@pytest.mark.parametrize("warmup", ["none", "inverse", "power", "half_life"])
def test_average_matches_a_hand_rolled_reference(warmup: str) -> None:
    holder = _one_parameter()
    ema = EMA(decay=0.9, warmup=warmup, power=0.5, half_life_images=8.0)
    ema.shadow(holder)  # seeded from the starting weight, 0
    reference, values = 0.0, [1.0, 3.0, -2.0, 5.0, 0.5, 4.0]
    for n, value in enumerate(values):
        with torch.no_grad():
            holder.generator.weight.fill_(value)
        ema.update(holder, iteration=n + 1, images=4)
        d = {"none": 0.9, "inverse": min(0.9, (1 + n) / (10 + n)), "power": min(0.9, 1 - (1 + n) ** -0.5),
             "half_life": 0.5 ** (4 / 8)}[warmup]
        reference = d * reference + (1 - d) * value
        assert ema.shadow(holder)["weight"].item() == pytest.approx(reference, rel=1e-6)
    assert ema.num_updates == len(values)


def test_decay_rules() -> None:
    assert decay_at(0, decay=0.999, warmup="inverse") == pytest.approx(0.1)
    assert decay_at(10_000, decay=0.999, warmup="inverse") == 0.999
    assert decay_at(0, decay=0.999, warmup="power", power=0.75) == 0.0
    assert decay_at(3, decay=0.5, warmup="half_life", half_life_images=16, images=16) == 0.5
    with pytest.raises(ValueError, match="unknown EMA warm-up 'linear'"):
        EMA(warmup="linear")
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\]"):
        EMA(decay=1.5)


def test_before_update_after_step_the_average_copies_the_weights() -> None:
    holder = _one_parameter()
    ema = EMA(decay=0.5, warmup="none", update_after_step=2)
    assert [ema.should_update(i) for i in (1, 2, 3)] == [False, False, True]
    for it, value in enumerate([1.0, 2.0, 4.0], start=1):
        with torch.no_grad():
            holder.generator.weight.fill_(value)
        ema.update(holder, iteration=it)
    assert ema.shadow(holder)["weight"].item() == pytest.approx(0.5 * 2.0 + 0.5 * 4.0)
    assert ema.num_updates == 1


def test_only_generator_parameters_are_averaged_and_buffers_stay_live() -> None:
    holder = _Holder(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))
    ema = EMA()
    assert set(ema.shadow(holder)) == {k for k, _ in holder.generator.named_parameters()}
    holder.generator[1].running_mean.fill_(7.0)
    ema.swap_in(holder)
    assert torch.all(holder.generator[1].running_mean == 7.0)
    ema.swap_out(holder)


def test_swap_is_idempotent_and_restores_bit_exactly() -> None:
    holder = _Holder(nn.Linear(3, 3))
    ema = EMA(decay=0.5, warmup="none")
    live = snapshot(holder.generator)
    with torch.no_grad():
        holder.generator.weight.add_(torch.randn(3, 3))
    ema.update(holder, iteration=1)
    live = snapshot(holder.generator)
    ema.swap_in(holder)
    ema.swap_in(holder)  # second call: no effect
    assert torch.equal(holder.generator.weight, ema.shadow(holder)["weight"])
    ema.swap_out(holder)
    ema.swap_out(holder)  # without swap_in: no effect
    assert all(torch.equal(v, live[k]) for k, v in snapshot(holder.generator).items())


def test_state_round_trips_on_cpu_and_shadows_follow_the_module_device() -> None:
    holder = _Holder(nn.Linear(2, 2))
    ema = EMA(decay=0.5, warmup="none")
    ema.update(holder, iteration=1)
    state = ema.state_dict()
    assert state["kind"] == "gan_engine.ema" and state["num_updates"] == 1
    assert all(t.device.type == "cpu" for t in state["shadow"].values())
    assert not any(isinstance(v, (str, torch.device)) and "cuda" in str(v) for v in state.values())
    restored = EMA()
    restored.load_state_dict(state)
    assert restored.num_updates == 1
    moved = _Holder(nn.Linear(2, 2)).to("meta")  # a device the state was never on
    assert all(t.device.type == "meta" for t in restored.shadow(moved).values())


class _WeightsDuringValidation(L.Callback):
    def __init__(self) -> None:
        self.seen: list[dict[str, torch.Tensor]] = []

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):  # type: ignore[no-untyped-def]
        self.seen.append({k: v.detach().clone() for k, v in pl_module.generator.named_parameters()})


def test_validation_runs_under_ema_and_live_weights_come_back(tmp_path: Path) -> None:
    module = tiny_module({"Training.max_steps": 4, "Data.train_size": 4, "Training.EMA.decay": 0.5,
                          "Training.EMA.warmup": "none"})
    spy, rec = _WeightsDuringValidation(), Recorder()
    tr = fit(module, limit_val_batches=1, callbacks=[spy, rec])
    ema = callback(tr, "EMA")
    assert len(spy.seen) == 2  # one validation per epoch of 2 iterations
    shadow = ema.shadow(module)
    assert all(torch.equal(spy.seen[-1][k], shadow[k]) for k in shadow)
    assert any(not torch.equal(spy.seen[-1][k], v) for k, v in module.generator.named_parameters())
    assert all(torch.equal(v, rec.generator[-1][k]) for k, v in snapshot(module.generator).items())
    dm = datamodule(module)
    dm.setup()
    predictions = tr.predict(module, dm.val_dataloader())
    assert predictions and all(torch.equal(v, rec.generator[-1][k]) for k, v in snapshot(module.generator).items())


def test_checkpoint_without_ema_state_reseeds_the_average_from_the_loaded_weights(tmp_path: Path) -> None:
    plain = tiny_module({"Training.max_steps": 2, "Training.EMA.enabled": False}, seed=1)
    fit(plain, tmp_path, callbacks=[SaveAt(2, tmp_path / "plain.ckpt")])
    loaded = snapshot(plain.generator)
    fresh = tiny_module({"Training.max_steps": 2}, seed=2)  # different random weights, EMA on
    spy = _WeightsDuringValidation()
    tr = trainer(tmp_path, limit_val_batches=1, callbacks=[spy])
    tr.validate(fresh, datamodule(fresh), ckpt_path=tmp_path / "plain.ckpt")
    assert all(torch.equal(spy.seen[0][k], loaded[k]) for k in spy.seen[0])


def test_loading_a_checkpoint_without_ema_state_forgets_an_existing_average() -> None:
    holder = _Holder(nn.Linear(2, 2))
    ema = EMA()
    ema.shadow(holder)  # seeded from the current (soon stale) weights
    with torch.no_grad():
        holder.generator.weight.add_(1.0)  # what loading other weights does
    ema.on_load_checkpoint(None, holder, {"callbacks": {}})  # type: ignore[arg-type]
    assert torch.equal(ema.shadow(holder)["weight"], holder.generator.weight)


def test_validating_a_checkpoint_uses_its_saved_average(tmp_path: Path) -> None:
    module = tiny_module({"Training.max_steps": 3, "Training.EMA.decay": 0.5, "Training.EMA.warmup": "none"})
    tr = fit(module, tmp_path, callbacks=[SaveAt(3, tmp_path / "x.ckpt")])
    shadow = {k: v.clone() for k, v in callback(tr, "EMA").shadow(module).items()}
    spy = _WeightsDuringValidation()
    fresh = tiny_module({"Training.max_steps": 3}, seed=5)
    trainer(tmp_path, limit_val_batches=1, callbacks=[spy]).validate(fresh, datamodule(fresh),
                                                                     ckpt_path=tmp_path / "x.ckpt")
    assert all(torch.equal(spy.seen[0][k], shadow[k]) for k in shadow)


def test_ema_state_travels_in_the_checkpoint(tmp_path: Path) -> None:
    module = tiny_module({"Training.max_steps": 3})
    tr = fit(module, tmp_path, callbacks=[SaveAt(3, tmp_path / "x.ckpt")])
    ema = callback(tr, "EMA")
    state = torch.load(tmp_path / "x.ckpt", weights_only=True)["callbacks"][ema.state_key]
    assert state["num_updates"] == 3
    assert all(torch.equal(state["shadow"][k], v) for k, v in ema.shadow(module).items())
    assert isinstance(ge.callbacks.get("ema")(), EMA)
