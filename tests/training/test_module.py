"""GANModule: iteration counting, stopping, phases, pretraining, intervals, toggling, logging."""

from __future__ import annotations

import warnings

import lightning as L
import pytest
import torch
from engine_helpers import MemoryLogger, Recorder, datamodule, fit, same, snapshot, tiny_module, trainer

import gan_engine as ge
from gan_engine.errors import ConfigError, GanEngineError
from gan_engine.training.module import GANModule
from gan_engine.training.schedules import adversarial_weight


def test_default_config_trains_end_to_end() -> None:
    module = GANModule(ge.load_config({}, overrides=["Training.max_steps=2", "Training.pretrain_steps=1"]))
    tr = L.Trainer(**module.trainer_defaults(), accelerator="cpu", logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, limit_val_batches=1,
                   num_sanity_val_steps=0)
    tr.fit(module, datamodule(module))
    assert module.iteration == 2
    assert {"val/psnr", "val/ssim", "val/psnr_bicubic", "val/ssim_bicubic"} <= set(tr.callback_metrics)


def test_module_accepts_a_config_a_mapping_or_a_path(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("Training: {max_steps: 7, pretrain_steps: 2}\n")
    assert GANModule(str(path)).cfg.Training.max_steps == 7
    assert GANModule({"Training": {"max_steps": 5, "pretrain_steps": 1}}).cfg.Training.max_steps == 5
    cfg = ge.load_config({})
    module = GANModule(cfg)
    assert module.cfg is not cfg and module.cfg.to_dict() == cfg.to_dict()
    assert module.hparams["cfg"] == cfg.to_dict()  # GANModule.load_from_checkpoint can rebuild it


@pytest.mark.parametrize(("pretrain", "max_steps", "optimizer_steps"), [(4, 5, 4 + 2), (0, 5, 10)])
def test_stops_after_exactly_max_steps_iterations_whatever_the_optimizer_steps(
        pretrain: int, max_steps: int, optimizer_steps: int) -> None:
    """One optimizer steps per pretraining iteration, two per adversarial one; the count is the same."""
    module = tiny_module({"Training.max_steps": max_steps, "Training.pretrain_steps": pretrain})
    rec = Recorder()
    tr = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, limit_val_batches=0, callbacks=[rec])  # plain: no max_steps
    tr.fit(module, datamodule(module))
    assert module.iteration == max_steps
    assert [o["iteration"] for o in rec.outputs] == list(range(1, max_steps + 1))
    assert tr.global_step == optimizer_steps  # Lightning's count differs; ours does not


def test_a_module_already_at_max_steps_does_not_train(tmp_path) -> None:
    module = tiny_module({"Training.max_steps": 2})
    module.iteration = 2
    before = snapshot(module.generator)
    fit(module)
    assert same(before, snapshot(module.generator)) and module.iteration == 2


def test_pretraining_freezes_the_discriminator_and_logs_no_discriminator_metrics() -> None:
    module = tiny_module({"Training.max_steps": 5, "Training.pretrain_steps": 3})
    d0 = snapshot(module.discriminator)
    rec, logger = Recorder(), MemoryLogger()
    fit(module, logger=logger, callbacks=[rec])
    for i, out in enumerate(rec.outputs):
        pretraining = i < 3
        assert out["pretraining"] is pretraining
        assert same(rec.discriminator[i], d0) is pretraining  # bit-identical, then changed every iteration
        row = logger.rows[i][1]
        assert row["train/adv_weight"] == (0.0 if pretraining else pytest.approx(1e-3))
        d_keys = {"train/d_adversarial", "train/g_adversarial", "health/d_real", "grad_norm/discriminator/before_clip"}
        assert (d_keys & set(row) == set()) is pretraining  # absent, not zeros
    assert not same(rec.generator[0], rec.generator[1])


def test_discriminator_and_generator_update_intervals() -> None:
    module = tiny_module({"Training.max_steps": 9, "Training.pretrain_steps": 2, "Training.d_update_interval": 2,
                          "Training.g_update_interval": 3, "Data.train_size": 18})
    rec = Recorder()
    fit(module, callbacks=[rec])
    d_steps = [o["discriminator_step"] for o in rec.outputs]
    g_steps = [o["generator_step"] for o in rec.outputs]
    assert d_steps == [False, False, True, False, True, False, True, False, True]
    assert g_steps == [True, True, True, False, False, True, False, False, True]
    for i in range(1, 9):  # weights change exactly on the iterations that step them
        assert (not same(rec.discriminator[i - 1], rec.discriminator[i])) is d_steps[i]
        assert (not same(rec.generator[i - 1], rec.generator[i])) is g_steps[i]


def test_adversarial_weight_is_logged_every_iteration_and_follows_the_ramp() -> None:
    module = tiny_module({"Training.max_steps": 7, "Training.pretrain_steps": 2, "Losses.adversarial.weight": 0.5,
                          "Losses.adversarial.ramp.steps": 4, "Losses.adversarial.ramp.schedule": "linear"})
    logger = MemoryLogger()
    fit(module, logger=logger)
    weights = [row["train/adv_weight"] for _, row in logger.rows]
    assert weights == pytest.approx([adversarial_weight(i, 2, 0.5, 4, "linear") for i in range(7)])
    assert weights == pytest.approx([0, 0, 0.125, 0.25, 0.375, 0.5, 0.5])


def test_diagnostics_are_computed_only_at_the_logging_cadence() -> None:
    """The weight is in every row written; losses, learning rates and norms only on logging iterations."""
    module = tiny_module({"Training.max_steps": 7, "Training.pretrain_steps": 2})
    logger = MemoryLogger()
    fit(module, logger=logger, log_every_n_steps=3)
    assert [step for step, _ in logger.rows] == [2, 5, 6]  # batches 3 and 6, and the last one
    for _, row in logger.rows:
        assert {"train/adv_weight", "train/content/l1", "lr/generator", "grad_norm/generator/before_clip"} <= set(row)


def test_without_pretraining_the_ramp_starts_at_the_first_iteration() -> None:
    module = tiny_module({"Training.max_steps": 2, "Training.pretrain_steps": 0,
                          "Losses.adversarial.ramp.steps": 2, "Losses.adversarial.ramp.schedule": "linear"})
    rec = Recorder()
    fit(module, callbacks=[rec])
    assert [o["adversarial_weight"] for o in rec.outputs] == pytest.approx([5e-4, 1e-3])
    assert all(o["discriminator_step"] for o in rec.outputs)


class _PhaseSpy(L.Callback):
    """Checks, before each optimizer step, that the other network's gradients and weights are untouched."""

    def __init__(self) -> None:
        self.after: dict[str, tuple[dict[str, torch.Tensor], dict[str, torch.Tensor | None]]] = {}
        self.checked = {"generator": 0, "discriminator": 0}

    @staticmethod
    def _state(net: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor | None]]:
        return snapshot(net), {k: None if p.grad is None else p.grad.clone() for k, p in net.named_parameters()}

    def on_fit_start(self, trainer: L.Trainer, pl_module: GANModule) -> None:
        for name, opt in zip(("generator", "discriminator"), trainer.optimizers):
            net = getattr(pl_module, name)
            opt.register_step_post_hook(lambda *_, n=name, m=net: self.after.__setitem__(n, self._state(m)))

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: GANModule, optimizer: object) -> None:
        phase = pl_module.current_phase
        other = "discriminator" if phase == "generator" else "generator"
        if other not in self.after:
            return
        weights, grads = self._state(getattr(pl_module, other))
        ref_weights, ref_grads = self.after[other]
        assert same(weights, ref_weights), f"the {phase} phase changed the {other}'s weights"
        assert grads.keys() == ref_grads.keys()
        for k in grads:
            a, b = grads[k], ref_grads[k]
            assert (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b)), \
                f"the {phase} phase touched the {other}'s gradient {k}"
        self.checked[phase] += 1


def test_each_phase_leaves_the_other_network_untouched() -> None:
    module = tiny_module({"Training.max_steps": 4, "Training.pretrain_steps": 1, "Losses.feature_matching": 1.0,
                          "Losses.adversarial.name": "relativistic"})
    spy = _PhaseSpy()
    fit(module, callbacks=[spy])
    assert spy.checked["generator"] >= 3 and spy.checked["discriminator"] >= 3
    for p in [*module.generator.parameters(), *module.discriminator.parameters()]:
        assert p.requires_grad  # untoggled after every phase


@pytest.mark.parametrize("name", ["bce", "hinge", "wasserstein", "lsgan", "relativistic"])
def test_every_adversarial_objective_trains(name: str) -> None:
    module = tiny_module({"Training.max_steps": 3, "Losses.adversarial.name": name, "Training.Stability.gp_weight":
                          1.0 if name == "wasserstein" else 0.0})
    rec = Recorder()
    fit(module, callbacks=[rec])
    terms = rec.outputs[-1]["terms"]
    assert torch.isfinite(terms["d_adversarial"]) and torch.isfinite(terms["g_adversarial"])
    assert ("gradient_penalty" in terms) is (name == "wasserstein")


def test_lazy_r1_runs_every_d_reg_every_iterations_with_the_adam_correction() -> None:
    module = tiny_module({"Training.max_steps": 6, "Training.pretrain_steps": 1, "Training.Stability.r1_gamma": 2.0,
                          "Training.Stability.d_reg_every": 2, "Optimizers.discriminator.lr": 1e-3,
                          "Optimizers.discriminator.betas": [0.5, 0.9]})
    rec = Recorder()
    tr = fit(module, callbacks=[rec])
    assert [o["regularizer_step"] for o in rec.outputs] == [False, True, False, True, False, True]
    assert all("r1" in o["terms"] for o in rec.outputs if o["regularizer_step"])
    opt_d = tr.optimizers[1]
    c = 2 / 3
    assert opt_d.param_groups[0]["initial_lr"] == pytest.approx(1e-3 * c)
    assert opt_d.param_groups[0]["betas"] == pytest.approx((0.5**c, 0.9**c))
    assert tr.optimizers[0].param_groups[0]["betas"] == (0.9, 0.99)  # the generator is not corrected


def test_r1_every_iteration_joins_the_discriminator_loss() -> None:
    module = tiny_module({"Training.max_steps": 2, "Training.Stability.r1_gamma": 1.0,
                          "Training.Stability.d_reg_every": 1})
    rec = Recorder()
    tr = fit(module, callbacks=[rec])
    assert not rec.outputs[-1]["regularizer_step"] and "r1" in rec.outputs[-1]["terms"]
    assert tr.optimizers[1].param_groups[0]["initial_lr"] == pytest.approx(2e-4)  # no correction


def test_schedules_are_stepped_once_per_iteration_by_the_module() -> None:
    module = tiny_module({"Training.max_steps": 5, "Training.pretrain_steps": 2})
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit(module)
    assert not [w for w in record if "scheduler" in str(w.message).lower()]  # nothing ignored, nothing early
    g, d = module.schedules()
    assert g.last_epoch == 5 and d.last_epoch == 3  # the discriminator's schedule starts with its training


def test_trainer_settings_lightning_refuses_name_our_keys() -> None:
    module = tiny_module()
    tr = trainer(gradient_clip_val=1.0)
    with pytest.raises(GanEngineError, match=r"Training\.Stability\.gradient_clip_val"):
        tr.fit(module, datamodule(module))
    tr = trainer(accumulate_grad_batches=2)
    with pytest.raises(GanEngineError, match=r"Training\.accumulate_grad_batches"):
        tr.fit(module, datamodule(module))


def test_label_smoothing_needs_a_loss_with_a_real_target() -> None:
    with pytest.raises(ConfigError, match=r"Training\.label_smoothing.*'hinge' loss has no real target"):
        tiny_module({"Losses.adversarial.name": "hinge", "Training.label_smoothing": 0.1})


def test_precision_mismatch_with_the_trainer_is_reported() -> None:
    module = tiny_module({"Training.precision": "bf16", "Training.max_steps": 1, "Training.pretrain_steps": 0})
    with pytest.warns(UserWarning, match=r"Trainer\(precision='bf16-mixed'\)"):
        fit(module)
    assert module.trainer_defaults() == {"precision": "bf16-mixed", "max_epochs": -1, "log_every_n_steps": 1}


def test_configure_callbacks_adds_the_engine_callbacks() -> None:
    module = tiny_module({"Callbacks.health.enabled": False})
    names = [type(c).__name__ for c in module.configure_callbacks()]
    assert names == ["EMA", "GradientNormMonitor"]
    module = tiny_module({"Training.EMA.enabled": False, "Callbacks.gradient_norm.enabled": False})
    assert [type(c).__name__ for c in module.configure_callbacks()] == ["GANHealthMonitor"]


def test_pretraining_needs_a_content_target() -> None:
    from typing import ClassVar

    from gan_engine.components.tasks.super_resolution import SuperResolution

    @ge.tasks.register("no_target_sr")
    class NoTarget(SuperResolution):
        has_content_target: ClassVar[bool] = False

    with pytest.raises(ConfigError, match=r"Training\.pretrain_steps.*no content target"):
        tiny_module({"Task.name": "no_target_sr", "Training.pretrain_steps": 1})


def test_a_trainer_max_steps_is_reported_as_counting_optimizer_steps() -> None:
    module = tiny_module({"Training.max_steps": 2})
    with pytest.warns(UserWarning, match=r"Trainer\(max_steps=50\) counts optimizer steps"):
        fit(module, max_steps=50)
    assert module.iteration == 2


def test_learning_rates_are_logged_only_with_the_lr_monitor() -> None:
    module = tiny_module({"Training.max_steps": 2, "Training.pretrain_steps": 1, "Callbacks.lr_monitor": False})
    logger = MemoryLogger()
    fit(module, logger=logger, log_every_n_steps=1)
    assert logger.rows and all("lr/generator" not in row and "train/adv_weight" in row for _, row in logger.rows)
