"""``GANModule``: the LightningModule that trains a generator against a discriminator.

Contract relied on by ``ge.fit``, callbacks and tools (kept stable):

- ``GANModule(cfg)`` takes a :class:`~gan_engine.config.Config`, a mapping or a YAML path.
- ``module.iteration``: completed training iterations. An iteration is one training batch,
  or ``Training.accumulate_grad_batches`` batches when accumulating; it updates the
  generator (every ``g_update_interval``-th adversarial iteration in critic-style
  training). Every count of the config uses it: ``max_steps`` (the module stops the
  Trainer itself after exactly that many), ``pretrain_steps``, the adversarial ramp, EMA
  ``update_after_step``, warm-ups, ``d_reg_every``, periodic checkpoints.
- ``module.generator``, ``module.discriminator``, ``module.task``, ``module.normalizers``
  (a normaliser without statistics is fitted on the first training batches in
  ``on_fit_start``, see :mod:`gan_engine.training.normalization`);
  ``module.denormalize(x, branch)`` undoes a branch's normaliser (``task.output_branch``
  for generator outputs); ``module.current_phase`` names the running phase.
- ``training_step`` returns (and callbacks receive as ``outputs``) a dict with
  ``iteration``, ``pretraining``, ``discriminator_step``, ``regularizer_step``,
  ``generator_step``, ``adversarial_weight``, ``images`` (images of the iteration on all
  processes), ``terms`` (detached loss terms), ``real_scores``/``fake_scores`` (detached
  discriminator outputs, ``None`` without a discriminator step), ``fake`` and ``batch``
  (normalised) and ``loss``; it is empty on batches that only accumulate.
- ``validation_step``/``test_step`` return ``{"fake": ..., "batch": ...}`` (normalised).
- Checkpoints hold ``checkpoint["gan_engine"]``: ``format``, ``version``, ``config`` (the
  resolved config as a dict), ``iteration``, ``pending`` (accumulated micro-batches),
  ``nonfinite``, ``rng``; EMA weights are in the ``ema`` callback's state; with
  ``Training.d_augment``, the augmentation's ``p`` and ADA sums are in the state dict
  (``d_augment.p``, ``d_augment.signs``).

Example:
    >>> import lightning as L
    >>> module = GANModule({"Training": {"max_steps": 2, "pretrain_steps": 1}})  # doctest: +SKIP
    >>> L.Trainer(**module.trainer_defaults()).fit(module, datamodule)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import Any, cast

import lightning as L
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.strategies import FSDPStrategy, ModelParallelStrategy, ParallelStrategy
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer

from gan_engine.checkpoint import CHECKPOINT_FORMAT
from gan_engine.components.normalizers.base import Normalizer
from gan_engine.components.tasks.base import Task
from gan_engine.config import Config, load_config
from gan_engine.errors import GanEngineError
from gan_engine.registry import discriminators, generators, losses, tasks
from gan_engine.training.build import (
    build_content_losses,
    build_d_augment,
    build_normalizers,
    build_objective,
    engine_callbacks,
    optimizers_and_schedules,
)
from gan_engine.training.cadence import is_logging_step
from gan_engine.training.micro_batch import MicroBatch
from gan_engine.training.nonfinite import NonFiniteGuard
from gan_engine.training.normalization import FIT_BATCHES, fit_normalizers
from gan_engine.training.objective import PHASES, PhaseLoss, PhaseResult
from gan_engine.training.optim import IterationLR, clip_gradients_, observe_plateaus
from gan_engine.training.rng import restore_rng
from gan_engine.training.schedules import IterationPlan, plan_iteration
from gan_engine.training.sharding import gathered, is_sharded, shard_network
from gan_engine.training.speed import TrainingNetworks, fast_matmul
from gan_engine.training.state import engine_state, read_engine_state, warn_if_loader_cannot_resume

__all__ = ["CHECKPOINT_FORMAT", "PRECISIONS", "GANModule"]

PRECISIONS = {"32": "32-true", "16": "16-mixed", "bf16": "bf16-mixed"}


class GANModule(L.LightningModule):
    """Trains ``Generator`` against ``Discriminator`` as the config says; see the module docstring."""

    #: Training batches a normaliser without statistics is fitted on.
    normalizer_fit_batches: int = FIT_BATCHES

    def __init__(self, cfg: Config | Mapping[str, Any] | str | os.PathLike[str]) -> None:
        super().__init__()
        self.cfg = load_config(cfg)
        self.save_hyperparameters({"cfg": self.cfg.to_dict()})
        self.automatic_optimization = False
        c = self.cfg
        self.task: Task = tasks.build(c.Task.name, **c.Task.params)
        self.generator: nn.Module = generators.build(c.Generator.name, **c.Generator.params)
        self.discriminator: nn.Module = discriminators.build(c.Discriminator.name, **c.Discriminator.params)
        self._memory_format = torch.channels_last if c.Training.channels_last else torch.contiguous_format
        if c.Training.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        self.normalizers = build_normalizers(c)
        self.content_losses, content_weights = build_content_losses(c)
        self.adversarial = losses.build(c.Losses.adversarial.name, **c.Losses.adversarial.params)
        self.d_augment = build_d_augment(c)  # a submodule: its adaptive p is saved with the weights
        self.objective = build_objective(c, self.task, self.adversarial, dict(self.content_losses.items()),
                                         content_weights, self.d_augment)
        s = c.Training.Stability
        self.nonfinite = NonFiniteGuard(self.objective.term_names(), s.nonfinite, s.max_nonfinite)
        self.iteration = 0
        self.current_phase: str | None = None
        self._pending: list[MicroBatch] = []
        self._rng_to_restore: dict[str, Any] | None = None
        self._warned: set[str] = set()
        self._networks: TrainingNetworks | None = None  # not submodules: a checkpoint stores the eager networks
        self._fit_settings = ExitStack()

    # -- helpers used by callbacks and tools ------------------------------------------
    @property
    def data_range(self) -> float:
        """Span of denormalised values for metrics: the data module's ``data_range``, else the task's."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        return float(getattr(datamodule, "data_range", self.task.data_range))

    @property
    def pending_micro_batches(self) -> int:
        """Micro-batches accumulated towards the next iteration (0 between iterations)."""
        return len(self._pending)

    def prepare(self, batch: Any) -> dict[str, Tensor]:
        """Check a raw batch with the task and normalise each of its branches."""
        return self.normalize_batch(self.task.prepare_batch(batch))

    def normalize_batch(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """A copy of ``batch`` with each key the task normalises mapped into the run's space."""
        return {k: self._normalizer(self.task.branches[k]).normalize(v) if k in self.task.branches else v
                for k, v in batch.items()}

    def _normalizer(self, branch: str) -> Normalizer:
        return cast(Normalizer, self.normalizers[branch])

    def schedules(self) -> tuple[IterationLR, IterationLR]:
        """The generator's and the discriminator's learning-rate schedules."""
        g, d = self.lr_schedulers()  # type: ignore[misc]
        return cast(IterationLR, g), cast(IterationLR, d)

    def denormalize(self, x: Tensor, branch: str = "hr") -> Tensor:
        """Undo the normaliser of ``branch`` (``"lr"``, ``"hr"`` or ``"cond"``)."""
        return self._normalizer(branch).denormalize(x)

    def denormalize_batch(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """A copy of a prepared batch with every normalised branch back in data units."""
        return {k: self.denormalize(v, self.task.branches[k]) if k in self.task.branches else v
                for k, v in batch.items()}

    def generate(self, batch: Mapping[str, Tensor]) -> Tensor:
        """The generator's output for a prepared batch."""
        return self.objective.generate(self.generator, batch)

    def optimizer_of(self, network: str) -> LightningOptimizer:
        """The (Lightning-wrapped) optimizer of ``"generator"`` or ``"discriminator"``."""
        opts = self.optimizers()
        assert isinstance(opts, list)
        return opts[0 if network == "generator" else 1]

    def network_of(self, optimizer: Optimizer | LightningOptimizer) -> str:
        """``"generator"`` or ``"discriminator"``: which network ``optimizer`` trains."""
        raw = optimizer.optimizer if isinstance(optimizer, LightningOptimizer) else optimizer
        return "generator" if raw is self.trainer.optimizers[0] else "discriminator"

    def trainer_defaults(self) -> dict[str, Any]:
        """``lightning.Trainer`` keywords this config implies (precision, no epoch limit, log cadence)."""
        t = self.cfg.Training
        return {"precision": PRECISIONS[t.precision], "max_epochs": -1,
                "log_every_n_steps": self.cfg.Logging.log_every_n_steps * t.accumulate_grad_batches}

    # -- Lightning configuration ------------------------------------------------------
    def configure_model(self) -> None:
        """Under ``ModelParallelStrategy`` (``strategy: fsdp``), shard each network apart with FSDP2."""
        strategy = self._trainer.strategy if self._trainer is not None else None
        if isinstance(strategy, FSDPStrategy):
            raise GanEngineError("GANModule does not run on Lightning's FSDPStrategy (FSDP1 wraps the whole module, "
                                 "whose forward never ends in a manual-optimisation step, so no checkpoint can be "
                                 "saved): use strategy 'fsdp' with ge.fit, or pass lightning.Trainer(strategy="
                                 "ModelParallelStrategy(data_parallel_size=<processes>, tensor_parallel_size=1)); "
                                 "the module shards the generator and the discriminator itself")
        if isinstance(strategy, ModelParallelStrategy) and not is_sharded(next(self.generator.parameters())):
            mesh = strategy.device_mesh["data_parallel"]
            for network in (self.generator, self.discriminator):
                shard_network(network, mesh, self.cfg.Training.fsdp)

    def configure_optimizers(self) -> Any:
        return optimizers_and_schedules(self.cfg, self.generator, self.discriminator, lazy_r1=self.objective.r1_lazy)

    def configure_callbacks(self) -> list[L.Callback]:
        trainer = self._trainer
        if trainer is not None and (trainer.gradient_clip_val or trainer.accumulate_grad_batches != 1):
            raise GanEngineError("GANModule optimises manually, so Lightning cannot clip or accumulate for it: "
                                 "remove Trainer(gradient_clip_val=..., accumulate_grad_batches=...) and set "
                                 "Training.Stability.gradient_clip_val and Training.accumulate_grad_batches instead")
        return engine_callbacks(self.cfg)

    # -- training ---------------------------------------------------------------------
    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        """One batch; every ``accumulate_grad_batches``-th runs the phases of one iteration."""
        self._pending.append(MicroBatch(self.prepare(batch)))
        if len(self._pending) < self.cfg.Training.accumulate_grad_batches:
            return {}
        micro, self._pending = [MicroBatch({k: self._on_device(v) for k, v in m.batch.items()})
                                for m in self._pending], []
        plan, obj, nets = self._plan(), self.objective, self._training_networks()
        G, D = nets.generator, nets.discriminator
        double_backward = obj.r1_each_step or obj.gradient_penalty is not None
        D_penalized = nets.penalized_discriminator if double_backward else D
        if len(micro) == 1 and plan.generator_step:
            micro[0].fake = obj.generate(G, micro[0].batch)  # shared: D sees it detached, G back-propagates it
        d = self.run_phase("discriminator", micro, lambda mb: obj.discriminator_loss(G, D_penalized, mb),
                           double_backward=double_backward) if plan.discriminator_step else None
        r = self.run_phase("regularizer", micro, lambda mb: obj.regularizer_loss(nets.penalized_discriminator, mb),
                           double_backward=True) if plan.regularizer_step else None
        g = self.run_phase("generator", micro, lambda mb: obj.generator_loss(G, D, mb, plan.adversarial_weight,
                                                                              plan.pretraining)) \
            if plan.generator_step else None
        return self._finish_iteration(plan, micro, d, r, g)

    def run_phase(self, phase: str, micro: list[MicroBatch], loss: Callable[[MicroBatch], PhaseLoss],
                  double_backward: bool = False) -> PhaseResult:
        """Update the phase's network on ``loss`` of every micro-batch: the one place that steps.

        Toggles the network's optimizer (the other network's parameters stop requiring
        gradients), back-propagates each micro-batch's loss divided by their count (under DDP
        only the last backward all-reduces), lets the non-finite guard decide from the terms,
        and steps; clipping runs in :meth:`on_before_optimizer_step`, after mixed-precision
        unscaling. ``double_backward``: the loss differentiates an input gradient, so a sharded
        network stays gathered until its last backward (:func:`~gan_engine.training.sharding.gathered`).
        """
        opt = self.optimizer_of(PHASES[phase])
        self.current_phase = phase
        self.toggle_optimizer(opt)
        try:
            opt.zero_grad(set_to_none=True)
            outs = []
            with gathered(getattr(self, PHASES[phase]), enabled=double_backward,
                          reshard_after_forward=self.cfg.Training.fsdp.sharding == "full"):
                for i, mb in enumerate(micro):
                    out = loss(mb)
                    with self._gradient_sync(last=i == len(micro) - 1):
                        self.manual_backward(out.loss / len(micro))
                    outs.append(out.detach())
            terms = outs[0].terms if len(outs) == 1 else {k: torch.stack([o.terms[k] for o in outs])
                                                          for k in outs[0].terms}
            if self.nonfinite.guard_step(opt.optimizer, self.nonfinite.observe(terms, self.iteration)):
                opt.step()
        finally:
            self.untoggle_optimizer(opt)
            self.current_phase = None
        return PhaseResult.of(terms, outs)

    def _gradient_sync(self, last: bool) -> AbstractContextManager[Any]:
        """No gradient all-reduce on a micro-batch's backward but the last one of a phase."""
        strategy = self._trainer.strategy if self._trainer is not None else None
        if last or not isinstance(strategy, ParallelStrategy):
            return nullcontext()
        return strategy.block_backward_sync()  # type: ignore[no-any-return]

    def _training_networks(self) -> TrainingNetworks:
        """The networks the phases call: ``torch.compile`` d copies under ``Training.compile``, built once."""
        if self._networks is None:
            self._networks = TrainingNetworks.build(self.generator, self.discriminator, self.cfg.Training.compile)
        return self._networks

    def _on_device(self, x: Tensor) -> Tensor:
        """A batch tensor on the module's device, images in the networks' memory format."""
        return x.to(self.device, memory_format=self._memory_format) if x.ndim == 4 else x.to(self.device)

    def _plan(self) -> IterationPlan:
        t, adv = self.cfg.Training, self.cfg.Losses.adversarial
        r1 = self.objective.r1
        lazy_every = r1.interval if r1 is not None and r1.interval > 1 else 0
        return plan_iteration(self.iteration, pretrain_steps=t.pretrain_steps, d_update_interval=t.d_update_interval,
                              g_update_interval=t.g_update_interval, r1_interval=lazy_every,
                              weight=adv.weight, ramp_steps=adv.ramp.steps, ramp_schedule=adv.ramp.schedule)

    def _finish_iteration(self, plan: IterationPlan, micro: list[MicroBatch], *phases: PhaseResult | None
                          ) -> dict[str, Any]:
        sched_g, sched_d = self.schedules()
        sched_g.step()
        if not plan.pretraining:
            sched_d.step()
        self.nonfinite.end_iteration()
        self.iteration += 1
        n = sum(self.task.real(m.batch).shape[0] for m in micro)
        if self.d_augment is not None and self.d_augment.adaptive:
            self._steer_augmentation(phases[0], n)
        terms = {k: v for p in phases if p is not None for k, v in p.terms.items()}
        if self.iteration >= self.cfg.Training.max_steps:
            self.trainer.should_stop = True  # before logging: Lightning writes the final iteration's values
        self._log_iteration(plan, terms, n)
        d = phases[0]
        out = {**vars(plan), "iteration": self.iteration, "images": n * self.trainer.world_size, "terms": terms,
               "real_scores": d.real_scores if d else None, "fake_scores": d.fake_scores if d else None,
               "fake": micro[-1].generated, "batch": micro[-1].batch}
        if "g_total" in terms:
            out["loss"] = terms["g_total"]
        return out

    def _steer_augmentation(self, d: PhaseResult | None, batch_size: int) -> None:
        """ADA: record D's outputs on reals; every ``interval`` iterations move ``p`` (sums of all processes)."""
        augment = self.d_augment
        assert augment is not None
        if d is not None and d.real_scores is not None:
            augment.observe(d.real_scores)
        if self.iteration % augment.interval == 0:
            world = self.trainer.world_size
            totals = self.trainer.strategy.reduce(augment.signs.clone(), reduce_op="sum") if world > 1 else None
            augment.adjust(batch_size * world * augment.interval, totals)

    def _log_iteration(self, plan: IterationPlan, terms: dict[str, Tensor], batch_size: int) -> None:
        if not is_logging_step(self.trainer):  # nothing is written between logging steps: nothing to log
            return
        values = {f"train/{k}": v for k, v in terms.items()}
        if self.d_augment is not None:
            values["train/augment_p"] = self.d_augment.p
        self.log_dict(values, on_step=True, on_epoch=False, sync_dist=True, batch_size=batch_size)
        # Python numbers are logged as CPU tensors: Lightning would copy them to the GPU, a synchronising copy.
        scalars = {"train/adv_weight": plan.adversarial_weight,
                   "train/nonfinite_skipped": float(self.nonfinite.check()["skipped"])}
        if self.cfg.Callbacks.lr_monitor:
            scalars.update({f"lr/{n}": float(self.optimizer_of(n).param_groups[0]["lr"])
                            for n in ("generator", "discriminator")})
        self.log_dict({k: torch.tensor(v) for k, v in scalars.items()}, on_step=True, on_epoch=False,
                      batch_size=batch_size)

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        """Clip the stepping network's gradients (already unscaled under fp16 mixed precision)."""
        s = self.cfg.Training.Stability
        value = s.gradient_clip_val
        if self.network_of(optimizer) == "discriminator" and s.d_gradient_clip_val is not None:
            value = s.d_gradient_clip_val
        if value <= 0:
            return
        if getattr(self.trainer.precision_plugin, "scaler", None) is not None:  # fp16: Lightning unscaled them
            self.clip_gradients(optimizer, gradient_clip_val=value, gradient_clip_algorithm=s.gradient_clip_algorithm)
        else:  # nothing to unscale; unlike Lightning's mixed-precision plugin this accepts fused optimizers
            clip_gradients_(optimizer, value, s.gradient_clip_algorithm)

    def on_fit_start(self) -> None:
        """Check the DDP wrapper, then estimate missing normaliser statistics (a resumed run has loaded its own)."""
        wrapped = getattr(self.trainer.strategy, "model", None)
        if isinstance(wrapped, DistributedDataParallel) and not wrapped.find_unused_parameters:
            # Each phase back-propagates through one network: DDP would wait for the other's gradients.
            raise GanEngineError("GANModule needs DDP with find_unused_parameters=True: pass lightning.Trainer("
                                 "strategy=DDPStrategy(find_unused_parameters=True)) or strategy="
                                 "'ddp_find_unused_parameters_true' (ge.fit does this for strategy: ddp)")
        fit_normalizers(self, self.normalizers, self.task, self.normalizer_fit_batches)
        self._fit_settings.enter_context(fast_matmul(self.cfg.Training.fast_matmul, self.device))

    def teardown(self, stage: str) -> None:
        """Put back the process-wide settings of the fit (``Training.fast_matmul``)."""
        self._fit_settings.close()

    def on_train_start(self) -> None:
        if self.iteration >= self.cfg.Training.max_steps:
            self.trainer.should_stop = True
        if self._rng_to_restore is not None:  # resuming from a checkpoint
            warn_if_loader_cannot_resume(self.trainer)
        if self.trainer.max_steps != -1:
            rank_zero_warn(f"Trainer(max_steps={self.trainer.max_steps}) counts optimizer steps (two per adversarial "
                           "iteration); the module stops after Training.max_steps iterations: drop the Trainer's")
        expected = PRECISIONS[self.cfg.Training.precision]
        if str(self.trainer.precision) != expected:
            rank_zero_warn(f"Training.precision is {self.cfg.Training.precision!r} but the Trainer runs "
                           f"{self.trainer.precision!r}; pass Trainer(precision={expected!r}) "
                           "(GANModule.trainer_defaults() lists every implied Trainer setting)")

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self._rng_to_restore is not None:  # after all of Lightning's resume work, before the next iteration
            restore_rng(self._rng_to_restore)
            self._rng_to_restore = None

    def on_train_end(self) -> None:
        self.nonfinite.check()

    # -- evaluation -------------------------------------------------------------------
    def _evaluate(self, batch: Any, stage: str) -> dict[str, Any]:
        b = self.prepare(batch)
        fake = self.generate(b)
        metrics = self.task.validation_metrics(self.denormalize(fake, self.task.output_branch),
                                               self.denormalize_batch(b), self.data_range)
        content = self.task.content_loss(fake, b, self.objective.content)
        if content:
            metrics["content_loss"] = self.objective.weighted_content(content, fake.device)
        self.log_dict({f"{stage}/{k}": v for k, v in metrics.items()}, on_step=False, on_epoch=True, sync_dist=True,
                      batch_size=fake.shape[0])
        return {"fake": fake, "batch": b}

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        return self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        return self._evaluate(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        """The prediction from the task's inputs alone (no target needed), in data units."""
        raw = self.task.prepare_inputs(batch)
        fake = self.denormalize(self.generate(self.normalize_batch(raw)), self.task.output_branch)
        return self.task.predict_output(fake, raw)

    def on_validation_end(self) -> None:
        """Feed plateau schedules their metric (after Lightning reduced this validation's values)."""
        if self.trainer.sanity_checking or self.trainer.state.fn != "fit":
            return
        g, d = self.schedules()  # the discriminator's schedule starts with its training
        training = {"generator": g} | ({"discriminator": d} if self.iteration > self.cfg.Training.pretrain_steps
                                       else {})
        observe_plateaus(training, self.trainer.callback_metrics, self._warned)

    # -- checkpoints ------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gan_engine"] = engine_state(self.cfg, self.iteration, self._pending, self.nonfinite)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the counter, pending micro-batches and guard; keep the RNG states for the next iteration."""
        state = read_engine_state(checkpoint)
        self.iteration, self._pending, self._rng_to_restore = state.iteration, state.pending, state.rng
        self.nonfinite.load_state_dict(state.nonfinite)
