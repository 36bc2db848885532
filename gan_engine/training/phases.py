"""The phases of one training iteration: discriminator, lazy regulariser, generator.

Each phase toggles its optimizer (the other network's parameters stop requiring
gradients, so it neither receives gradients nor is changed), runs every micro-batch of the
iteration, back-propagates each one's loss divided by the micro-batch count (gradient
accumulation), records the loss terms with the non-finite guard, and steps. Clipping
happens in the module's ``on_before_optimizer_step``, where mixed-precision gradients are
already unscaled.

With a single micro-batch the generator output is computed once, before the phases, and
shared: the discriminator phase sees it detached. With several micro-batches (gradient
accumulation) the discriminator phase generates without a graph and the generator phase
generates again with one, so memory stays that of one micro-batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor

from gan_engine.losses.adversarial import feature_matching_loss
from gan_engine.losses.penalties import gradient_penalty, r1_penalty

if TYPE_CHECKING:
    from gan_engine.training.module import GANModule

__all__ = ["MicroBatch", "discriminator_phase", "generator_phase", "regularizer_phase"]


@dataclass
class MicroBatch:
    """One prepared (normalised) batch of an iteration, and its generator output when shared."""

    batch: dict[str, Tensor]
    fake: Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _phase(module: GANModule, name: str, network: str) -> Iterator[LightningOptimizer]:
    opt = module.optimizer_of(network)
    module.current_phase = name
    module.toggle_optimizer(opt)
    try:
        opt.zero_grad(set_to_none=True)
        yield opt
    finally:
        module.untoggle_optimizer(opt)
        module.current_phase = None


def _step(module: GANModule, opt: LightningOptimizer, logged: list[dict[str, Tensor]]) -> None:
    terms = {k: torch.stack([t[k].detach() for t in logged]) for k in logged[0]}
    flag = module.nonfinite.observe(terms, module.iteration)
    if module.nonfinite.guard_step(opt.optimizer, flag):
        opt.step()


def _fake(module: GANModule, mb: MicroBatch, grad: bool) -> Tensor:
    if mb.fake is not None:
        return mb.fake if grad else mb.fake.detach()
    with nullcontext() if grad else torch.no_grad():
        return module.generate(mb.batch)


def _mean(values: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    return {k: torch.stack([v[k].detach() for v in values]).mean() for k in values[0]}


def _gradient_penalty(module: GANModule, real: Tensor, fake: Tensor, batch: dict[str, Tensor]) -> Tensor:
    def critic(x: Tensor) -> Tensor:
        return module.discriminator(module.task.discriminator_input(x, batch))  # type: ignore[no-any-return]

    with torch.autocast(real.device.type, enabled=False):  # input gradients of fp16 graphs underflow
        return gradient_penalty(critic, real.float(), fake.float())


def discriminator_phase(module: GANModule, micro: list[MicroBatch]) -> dict[str, Any]:
    """Update the discriminator on real and (detached) generated images; returns logged terms and scores."""
    task, d, s = module.task, module.discriminator, module.cfg.Training.Stability
    logged, real_scores, fake_scores = [], [], []
    with _phase(module, "discriminator", "discriminator") as opt:
        for mb in micro:
            fake = _fake(module, mb, grad=False)
            real = task.real(mb.batch).detach().requires_grad_(module.r1_each_step)
            real_out = d(task.discriminator_input(real, mb.batch))
            fake_out = d(task.discriminator_input(fake, mb.batch))
            terms = {"d_adversarial": module.adversarial.discriminator_loss(real_out, fake_out,
                                                                               module.cfg.Training.label_smoothing)}
            if module.r1_each_step:
                terms["r1"] = 0.5 * s.r1_gamma * r1_penalty(real_out, real)
            if s.gp_weight > 0:
                terms["gradient_penalty"] = s.gp_weight * _gradient_penalty(module, real, fake, mb.batch)
            module.manual_backward(sum(terms.values()) / len(micro))  # type: ignore[arg-type]
            logged.append(terms)
            real_scores.append(real_out.detach())
            fake_scores.append(fake_out.detach())
        _step(module, opt, logged)
    return {"terms": _mean(logged), "real_scores": torch.cat(real_scores), "fake_scores": torch.cat(fake_scores)}


def regularizer_phase(module: GANModule, micro: list[MicroBatch]) -> dict[str, Any]:
    """Lazy R1 step: ``γ/2 · k · R1`` on real images, in full precision, every ``k`` iterations."""
    task, d, s = module.task, module.discriminator, module.cfg.Training.Stability
    logged = []
    with _phase(module, "regularizer", "discriminator") as opt:
        for mb in micro:
            real = task.real(mb.batch).detach().float().requires_grad_(True)
            with torch.autocast(real.device.type, enabled=False):
                out = d(task.discriminator_input(real, mb.batch))
                penalty = 0.5 * s.r1_gamma * s.d_reg_every * r1_penalty(out, real)
            module.manual_backward(penalty / len(micro))
            logged.append({"r1": penalty})
        _step(module, opt, logged)
    return {"terms": _mean(logged)}


def _adversarial_terms(module: GANModule, fake: Tensor, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    task, d, adv = module.task, module.discriminator, module.adversarial
    fm_weight = module.cfg.Losses.feature_matching
    fake_in = task.discriminator_input(fake, batch)
    real_out = real_feats = fake_feats = None
    if fm_weight > 0:
        fake_out, fake_feats = d(fake_in, return_features=True)
    else:
        fake_out = d(fake_in)
    if adv.needs_real_logits or fm_weight > 0:
        with torch.no_grad():
            real_in = task.discriminator_input(task.real(batch), batch)
            real_out, real_feats = d(real_in, return_features=True) if fm_weight > 0 else (d(real_in), None)
    terms = {"g_adversarial": adv.generator_loss(fake_out, real_out if adv.needs_real_logits else None)}
    if fm_weight > 0:
        terms["feature_matching"] = feature_matching_loss(fake_feats, real_feats)  # type: ignore[arg-type]
    return terms


def generator_phase(module: GANModule, micro: list[MicroBatch], adversarial_weight: float,
                    pretraining: bool) -> dict[str, Any]:
    """Update the generator on its content loss plus, after pretraining, the weighted adversarial terms."""
    logged = []
    with _phase(module, "generator", "generator") as opt:
        for mb in micro:
            fake = _fake(module, mb, grad=True)
            content = module.task.content_loss(fake, mb.batch, module.content_terms)
            terms = {f"content/{k}": v for k, v in content.items()}
            total = module.weighted_content(content)
            if not pretraining:
                adv = _adversarial_terms(module, fake, mb.batch)
                terms.update(adv)
                total = total + adversarial_weight * adv["g_adversarial"]
                if "feature_matching" in adv:
                    total = total + module.cfg.Losses.feature_matching * adv["feature_matching"]
            terms["g_total"] = total
            module.manual_backward(total / len(micro))
            logged.append(terms)
            mb.extras["fake"] = fake.detach()
        _step(module, opt, logged)
    return {"terms": _mean(logged)}
