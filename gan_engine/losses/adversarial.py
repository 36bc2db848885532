"""Adversarial objectives: pure functions of discriminator logits, and registered modules.

Every module has ``kind = "adversarial"`` and two methods the engine calls:
``discriminator_loss(real_logits, fake_logits)`` and
``generator_loss(fake_logits, real_logits=None)``. Capability attributes tell the engine
what a loss needs: ``needs_real_logits`` (the generator step must also score real images,
as in the relativistic loss) and ``is_critic`` (outputs are unbounded critic values, not
logits of a probability).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_engine.registry import losses

__all__ = ["AdversarialLoss", "BCEAdversarialLoss", "bce_d_loss", "bce_g_loss"]


def bce_d_loss(real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
    r"""Discriminator binary cross-entropy with one-sided label smoothing.

    .. math:: \tfrac12\big[\mathrm{BCE}(D(x), 1 - s) + \mathrm{BCE}(D(G(z)), 0)\big]
    """
    real_t = torch.full_like(real_logits, 1.0 - label_smoothing)
    real = F.binary_cross_entropy_with_logits(real_logits, real_t)
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return 0.5 * (real + fake)


def bce_g_loss(fake_logits: Tensor) -> Tensor:
    r"""Non-saturating generator loss :math:`\mathrm{BCE}(D(G(z)), 1) = -\log \sigma(D(G(z)))`."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class AdversarialLoss(nn.Module):
    """Base class of adversarial objectives; see the module docstring for the contract."""

    kind: ClassVar[str] = "adversarial"
    needs_real_logits: ClassVar[bool] = False
    is_critic: ClassVar[bool] = False

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
        raise TypeError(f"{type(self).__name__} does not define discriminator_loss")

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        raise TypeError(f"{type(self).__name__} does not define generator_loss")


@losses.register("bce")
class BCEAdversarialLoss(AdversarialLoss):
    """Standard GAN objective with the non-saturating generator loss (Goodfellow et al., 2014)."""

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
        return bce_d_loss(real_logits, fake_logits, label_smoothing)

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return bce_g_loss(fake_logits)
