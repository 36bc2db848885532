"""The GAN objective: the loss of each phase of an iteration, as a function of one micro-batch.

:class:`GANObjective` is built once from typed parts (the task, the adversarial loss, the
content terms and their weights, the R1 and gradient penalties, label smoothing, feature
matching) and knows nothing of optimizers, Lightning or the configuration. Each phase is one
method that maps the networks and a :class:`~gan_engine.training.micro_batch.MicroBatch` to
a :class:`PhaseLoss`: the tensor to back-propagate and the weighted terms that make it up.
Toggling, backward, clipping and stepping happen in one place,
:meth:`gan_engine.training.module.GANModule.run_phase`; this split is the shape of
StyleGAN2-ADA's ``accumulate_gradients(phase, ...)``.

Phases (``PHASES``):

- ``discriminator``: the adversarial loss of D on real and detached generated images, plus
  R1 when it is applied every step (``interval == 1``) and the gradient penalty;
- ``regularizer``: lazy R1 on its own (``interval > 1``), in full precision;
- ``generator``: the weighted content terms plus, after pretraining, the weighted adversarial
  loss and feature matching.

The networks are arguments, not attributes: a strategy that wraps them (DDP, FSDP) or a
compiled copy is what the caller passes, and the objective holds no reference that could go
stale.

Example:
    >>> objective = GANObjective(task, adversarial, {"l1": L1Loss()}, {"l1": 1.0})  # doctest: +SKIP
    >>> out = objective.generator_loss(G, D, MicroBatch(batch), adversarial_weight=1e-3)  # doctest: +SKIP
    >>> out.loss.backward()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gan_engine.components.losses.adversarial import AdversarialLoss, feature_matching_loss
from gan_engine.components.losses.penalties import GradientPenalty, R1Penalty
from gan_engine.components.tasks.base import Task
from gan_engine.training.micro_batch import MicroBatch

__all__ = ["D_TERMS", "G_TERMS", "PHASES", "GANObjective", "PhaseLoss", "PhaseResult"]

#: Phase name → the network it updates.
PHASES = {"discriminator": "discriminator", "regularizer": "discriminator", "generator": "generator"}
#: Loss terms of the discriminator phases, and of the generator phase besides ``content/<name>``.
D_TERMS = ("d_adversarial", "r1", "gradient_penalty")
G_TERMS = ("g_adversarial", "feature_matching", "g_total")


@dataclass(frozen=True)
class PhaseLoss:
    """What one phase computes on one micro-batch.

    Attributes:
        loss: the scalar to back-propagate (the sum of the weighted terms).
        terms: the weighted terms by name, with their graphs (detach before keeping them).
        real_scores, fake_scores: the discriminator's outputs on real and generated inputs
            (discriminator phase only), with their graphs.
    """

    loss: Tensor
    terms: dict[str, Tensor]
    real_scores: Tensor | None = None
    fake_scores: Tensor | None = None

    def detach(self) -> PhaseLoss:
        """The same values without their graphs (what is kept once the loss is back-propagated)."""
        return PhaseLoss(self.loss.detach(), {k: v.detach() for k, v in self.terms.items()},
                         None if self.real_scores is None else self.real_scores.detach(),
                         None if self.fake_scores is None else self.fake_scores.detach())


@dataclass(frozen=True)
class PhaseResult:
    """A phase over all micro-batches of an iteration, detached.

    Attributes:
        terms: each term's mean over the micro-batches.
        real_scores, fake_scores: the discriminator's outputs of every micro-batch, concatenated.
    """

    terms: dict[str, Tensor]
    real_scores: Tensor | None = None
    fake_scores: Tensor | None = None

    @classmethod
    def of(cls, stacked: Mapping[str, Tensor], losses: Sequence[PhaseLoss]) -> PhaseResult:
        """From the terms stacked over micro-batches (one micro-batch: its terms) and each one's detached loss."""
        if len(losses) == 1:
            return cls(dict(stacked), losses[0].real_scores, losses[0].fake_scores)

        def cat(scores: list[Tensor | None]) -> Tensor | None:
            kept = [x for x in scores if x is not None]
            return torch.cat(kept) if kept else None

        return cls({k: v.mean() for k, v in stacked.items()}, cat([x.real_scores for x in losses]),
                   cat([x.fake_scores for x in losses]))


class GANObjective:
    """The per-phase losses of a GAN; see the module docstring.

    Args:
        task: maps batches to generator inputs, real images and discriminator inputs, and
            computes the content terms.
        adversarial: the adversarial loss (``ge.losses`` component of kind ``adversarial``).
        content: the content terms by name (the task's ``content_loss`` hook takes them).
        content_weights: a weight per name of ``content``.
        r1: the weighted R1 term (``ge.losses.build("r1", gamma=..., interval=k)``); with
            ``interval == 1`` it joins every discriminator loss, with ``k > 1`` it is the
            ``regularizer`` phase, run every ``k`` iterations.
        gradient_penalty: the weighted WGAN-GP term, joined to every discriminator loss.
        label_smoothing: target of real images ``1 - label_smoothing`` in the discriminator loss.
        feature_matching: weight of the feature-matching term of the generator loss (0: off).
        augment: augmentation of every discriminator input
            (:class:`~gan_engine.training.augment.DiscriminatorAugment`): the real and generated
            inputs of a phase get the same random transformation; R1 and the gradient penalty
            differentiate through it, with respect to the un-augmented images.
    """

    def __init__(self, task: Task, adversarial: AdversarialLoss, content: Mapping[str, nn.Module],
                 content_weights: Mapping[str, float], *, r1: R1Penalty | None = None,
                 gradient_penalty: GradientPenalty | None = None, label_smoothing: float = 0.0,
                 feature_matching: float = 0.0, augment: Callable[..., tuple[Tensor, ...]] | None = None) -> None:
        if set(content) != set(content_weights):
            raise ValueError(f"GANObjective needs one weight per content term: terms {sorted(content)}, "
                             f"weights {sorted(content_weights)}")
        self.task, self.adversarial = task, adversarial
        self.content, self.content_weights = dict(content), dict(content_weights)
        self.r1 = r1 if r1 is not None and r1.gamma > 0 else None
        gp = gradient_penalty
        self.gradient_penalty = gp if gp is not None and gp.weight > 0 else None
        self.label_smoothing, self.feature_matching = label_smoothing, feature_matching
        self.augment = augment

    @property
    def r1_each_step(self) -> bool:
        """R1 joins every discriminator loss."""
        return self.r1 is not None and self.r1.interval == 1

    @property
    def r1_lazy(self) -> bool:
        """R1 is the ``regularizer`` phase, every ``r1.interval`` iterations."""
        return self.r1 is not None and self.r1.interval > 1

    def term_names(self) -> list[str]:
        """Every term a phase can report, content terms first."""
        return [f"content/{k}" for k in self.content] + [*D_TERMS, *G_TERMS]

    # -- pieces ----------------------------------------------------------------------
    def generate(self, generator: Callable[..., Tensor], batch: Mapping[str, Tensor]) -> Tensor:
        """The generator's output for a prepared batch."""
        return generator(*self.task.generator_inputs(batch))

    def weighted_content(self, values: Mapping[str, Tensor], device: torch.device) -> Tensor:
        """The weighted sum of unweighted content-term values (a zero on ``device`` when there are none)."""
        return sum((self.content_weights[k] * v for k, v in values.items()), torch.zeros((), device=device))

    def _fake(self, generator: Callable[..., Tensor], mb: MicroBatch, grad: bool) -> Tensor:
        if mb.fake is not None:
            return mb.fake if grad else mb.fake.detach()
        with nullcontext() if grad else torch.no_grad():
            return self.generate(generator, mb.batch)

    def discriminator_inputs(self, batch: Mapping[str, Tensor], *images: Tensor) -> tuple[Tensor, ...]:
        """What the discriminator sees for ``images``: the task's inputs, augmented alike when augmenting."""
        inputs = tuple(self.task.discriminator_input(x, batch) for x in images)
        return inputs if self.augment is None else self.augment(*inputs)

    def _critic(self, discriminator: Callable[..., Tensor], batch: Mapping[str, Tensor]) -> Callable[[Tensor], Tensor]:
        return lambda x: discriminator(self.discriminator_inputs(batch, x)[0])

    # -- phases ----------------------------------------------------------------------
    def discriminator_loss(self, generator: Callable[..., Tensor], discriminator: Callable[..., Tensor],
                           mb: MicroBatch) -> PhaseLoss:
        """D's loss on real and (detached) generated images, with R1 (every step) and the gradient penalty."""
        task = self.task
        fake = self._fake(generator, mb, grad=False)
        real = task.real(mb.batch).detach().requires_grad_(self.r1_each_step)
        real_in, fake_in = self.discriminator_inputs(mb.batch, real, fake)
        real_out, fake_out = discriminator(real_in), discriminator(fake_in)
        terms = {"d_adversarial": self.adversarial.discriminator_loss(real_out, fake_out, self.label_smoothing)}
        if self.r1_each_step:
            assert self.r1 is not None
            terms["r1"] = self.r1(real_out, real)
        if self.gradient_penalty is not None:
            with torch.autocast(real.device.type, enabled=False):  # input gradients of fp16 graphs underflow
                terms["gradient_penalty"] = self.gradient_penalty(self._critic(discriminator, mb.batch),
                                                                  real.detach().float(), fake.float())
        return PhaseLoss(_sum(terms), terms, real_out, fake_out)

    def regularizer_loss(self, discriminator: Callable[..., Tensor], mb: MicroBatch) -> PhaseLoss:
        """Lazy R1, ``γ/2 · k · R1`` on real images, in full precision."""
        if self.r1 is None:
            raise RuntimeError("the regularizer phase needs an R1 penalty; build the objective with r1=...")
        real = self.task.real(mb.batch).detach().float().requires_grad_(True)
        with torch.autocast(real.device.type, enabled=False):
            terms = {"r1": self.r1(discriminator(self.discriminator_inputs(mb.batch, real)[0]), real)}
        return PhaseLoss(terms["r1"], terms)

    def generator_loss(self, generator: Callable[..., Tensor], discriminator: Callable[..., Any], mb: MicroBatch,
                       adversarial_weight: float, pretraining: bool = False) -> PhaseLoss:
        """The weighted content terms plus, after pretraining, the weighted adversarial terms.

        Stores the (detached) output in ``mb.generated``.
        """
        fake = self._fake(generator, mb, grad=True)
        content = self.task.content_loss(fake, mb.batch, self.content)
        terms = {f"content/{k}": v for k, v in content.items()}
        total = self.weighted_content(content, fake.device)
        if not pretraining:
            adv = self._adversarial_terms(discriminator, fake, mb.batch)
            terms.update(adv)
            total = total + adversarial_weight * adv["g_adversarial"]
            if "feature_matching" in adv:
                total = total + self.feature_matching * adv["feature_matching"]
        terms["g_total"] = total
        mb.generated = fake.detach()
        return PhaseLoss(total, terms)

    def _adversarial_terms(self, discriminator: Callable[..., Any], fake: Tensor, batch: Mapping[str, Tensor]
                           ) -> dict[str, Tensor]:
        task, adv, fm = self.task, self.adversarial, self.feature_matching > 0
        needs_real = adv.needs_real_logits or fm
        reals = [task.real(batch).detach()] if needs_real else []
        fake_in, *real_ins = self.discriminator_inputs(batch, fake, *reals)
        fake_out, fake_feats = discriminator(fake_in, return_features=True) if fm else (discriminator(fake_in), None)
        real_out = real_feats = None
        if needs_real:
            with torch.no_grad():
                real_in = real_ins[0].detach()
                real_out, real_feats = (discriminator(real_in, return_features=True) if fm
                                        else (discriminator(real_in), None))
        terms = {"g_adversarial": adv.generator_loss(fake_out, real_out if adv.needs_real_logits else None)}
        if fm:
            assert fake_feats is not None and real_feats is not None
            terms["feature_matching"] = feature_matching_loss(fake_feats, real_feats)
        return terms


def _sum(terms: Mapping[str, Tensor]) -> Tensor:
    values = iter(terms.values())
    total = next(values)
    for v in values:
        total = total + v
    return total
