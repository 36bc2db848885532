r"""Adversarial objectives: pure functions of discriminator outputs, and registered modules.

Notation: :math:`D(x)` are the discriminator's outputs on real images and :math:`D(G(z))`
on generated ones; each can be one value per image ``(N, 1)`` or a patch map
``(N, 1, h, w)`` and means run over every element. :math:`s` is the one-sided label
smoothing (real targets become :math:`1 - s`; fake targets and the generator's targets
never change).

Every module has ``kind = "adversarial"`` and two methods the engine calls:
``discriminator_loss(real_logits, fake_logits, label_smoothing)`` and
``generator_loss(fake_logits, real_logits=None)``. Capability attributes tell the engine
what a loss needs:

- ``needs_real_logits``: the generator step must also score real images (relativistic).
- ``is_critic``: outputs are unbounded critic values, not logits of a probability, so
  monitors report them as they are instead of through a sigmoid.
- ``supports_label_smoothing``: the loss has a real target that smoothing can move.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_engine.registry import losses

__all__ = [
    "AdversarialLoss",
    "BCEAdversarialLoss",
    "HingeAdversarialLoss",
    "LSGANAdversarialLoss",
    "RelativisticAdversarialLoss",
    "WassersteinAdversarialLoss",
    "bce_d_loss",
    "bce_g_loss",
    "feature_matching_loss",
    "hinge_d_loss",
    "hinge_g_loss",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "relativistic_d_loss",
    "relativistic_g_loss",
    "wasserstein_d_loss",
    "wasserstein_g_loss",
]


def _bce(logits: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


# -- functional core ------------------------------------------------------------------
def bce_d_loss(real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
    r"""Discriminator binary cross-entropy with one-sided label smoothing.

    .. math:: \tfrac12\big[\mathrm{BCE}(D(x), 1 - s) + \mathrm{BCE}(D(G(z)), 0)\big]
    """
    return 0.5 * (_bce(real_logits, 1.0 - label_smoothing) + _bce(fake_logits, 0.0))


def bce_g_loss(fake_logits: Tensor) -> Tensor:
    r"""Non-saturating generator loss :math:`\mathrm{BCE}(D(G(z)), 1) = -\log \sigma(D(G(z)))`."""
    return _bce(fake_logits, 1.0)


def hinge_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""Hinge discriminator loss (Lim & Ye, 2017; Miyato et al., 2018).

    .. math:: \mathbb E[\max(0, 1 - D(x))] + \mathbb E[\max(0, 1 + D(G(z)))]
    """
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: Tensor) -> Tensor:
    r"""Hinge generator loss :math:`-\mathbb E[D(G(z))]`."""
    return -fake_logits.mean()


def wasserstein_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""Wasserstein critic loss (Arjovsky et al., 2017): :math:`\mathbb E[D(G(z))] - \mathbb E[D(x)]`.

    The critic must be kept Lipschitz: pair it with ``Training.Stability.gp_weight``
    (WGAN-GP) or a spectrally normalised discriminator.
    """
    return fake_logits.mean() - real_logits.mean()


def wasserstein_g_loss(fake_logits: Tensor) -> Tensor:
    r"""Wasserstein generator loss :math:`-\mathbb E[D(G(z))]`."""
    return -fake_logits.mean()


def lsgan_d_loss(real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
    r"""Least-squares discriminator loss (Mao et al., 2017) with one-sided label smoothing.

    .. math:: \tfrac12\big[\mathbb E[(D(x) - (1 - s))^2] + \mathbb E[D(G(z))^2]\big]
    """
    return 0.5 * ((real_logits - (1.0 - label_smoothing)).pow(2).mean() + fake_logits.pow(2).mean())


def lsgan_g_loss(fake_logits: Tensor) -> Tensor:
    r"""Least-squares generator loss :math:`\tfrac12\,\mathbb E[(D(G(z)) - 1)^2]`."""
    return 0.5 * (fake_logits - 1.0).pow(2).mean()


def _relative(a: Tensor, b: Tensor) -> Tensor:
    """``a`` minus the batch mean of ``b`` (per patch position for patch maps)."""
    return a - b.mean(dim=0, keepdim=True)


def relativistic_d_loss(real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
    r"""Relativistic average discriminator loss (Jolicoeur-Martineau, 2019; used by ESRGAN).

    With :math:`\bar D_r, \bar D_f` the batch means of the real and fake outputs:

    .. math:: \tfrac12\big[\mathrm{BCE}(D(x) - \bar D_f, 1 - s) + \mathrm{BCE}(D(G(z)) - \bar D_r, 0)\big]
    """
    real = _bce(_relative(real_logits, fake_logits), 1.0 - label_smoothing)
    fake = _bce(_relative(fake_logits, real_logits), 0.0)
    return 0.5 * (real + fake)


def relativistic_g_loss(fake_logits: Tensor, real_logits: Tensor) -> Tensor:
    r"""Relativistic average generator loss; the real outputs are treated as constants.

    .. math:: \tfrac12\big[\mathrm{BCE}(D(G(z)) - \bar D_r, 1) + \mathrm{BCE}(D(x) - \bar D_f, 0)\big]
    """
    real_logits = real_logits.detach()
    return 0.5 * (_bce(_relative(fake_logits, real_logits), 1.0) + _bce(_relative(real_logits, fake_logits), 0.0))


def feature_matching_loss(fake_features: Sequence[Tensor], real_features: Sequence[Tensor]) -> Tensor:
    r"""Discriminator feature matching (Salimans et al., 2016), as an L1 distance.

    .. math:: \frac1L \sum_{l=1}^{L} \mathbb E\,\big|f_l(G(z)) - f_l(x)\big|

    The real features are treated as constants.

    Args:
        fake_features: intermediate discriminator activations on generated images.
        real_features: the same activations on real images, layer by layer.
    """
    if len(fake_features) != len(real_features) or not fake_features:
        raise ValueError(f"feature matching needs the same, non-zero number of layers for fake and real; "
                         f"got {len(fake_features)} and {len(real_features)}")
    terms = [F.l1_loss(f, r.detach()) for f, r in zip(fake_features, real_features)]
    return torch.stack(terms).mean()


# -- registered modules ---------------------------------------------------------------
class AdversarialLoss(nn.Module):
    """Base class of adversarial objectives; see the module docstring for the contract."""

    kind: ClassVar[str] = "adversarial"
    needs_real_logits: ClassVar[bool] = False
    is_critic: ClassVar[bool] = False
    supports_label_smoothing: ClassVar[bool] = False

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
        """The discriminator's loss on one batch of real and generated outputs."""
        raise TypeError(f"{type(self).__name__} does not define discriminator_loss")

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        """The generator's adversarial loss; ``real_logits`` is given when :attr:`needs_real_logits`."""
        raise TypeError(f"{type(self).__name__} does not define generator_loss")


@losses.register("bce")
class BCEAdversarialLoss(AdversarialLoss):
    """Standard GAN objective with the non-saturating generator loss (Goodfellow et al., 2014).

    See :func:`bce_d_loss` and :func:`bce_g_loss`.
    """

    supports_label_smoothing: ClassVar[bool] = True

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
        return bce_d_loss(real_logits, fake_logits, label_smoothing)

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return bce_g_loss(fake_logits)


@losses.register("hinge")
class HingeAdversarialLoss(AdversarialLoss):
    """Hinge objective (SAGAN, BigGAN). See :func:`hinge_d_loss` and :func:`hinge_g_loss`."""

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
        return hinge_d_loss(real_logits, fake_logits)

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return hinge_g_loss(fake_logits)


@losses.register("wasserstein")
class WassersteinAdversarialLoss(AdversarialLoss):
    """Wasserstein objective (WGAN); the discriminator is a critic.

    See :func:`wasserstein_d_loss` and :func:`wasserstein_g_loss`.
    """

    is_critic: ClassVar[bool] = True

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
        return wasserstein_d_loss(real_logits, fake_logits)

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return wasserstein_g_loss(fake_logits)


@losses.register("lsgan")
class LSGANAdversarialLoss(AdversarialLoss):
    """Least-squares objective (LSGAN). See :func:`lsgan_d_loss` and :func:`lsgan_g_loss`."""

    supports_label_smoothing: ClassVar[bool] = True

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
        return lsgan_d_loss(real_logits, fake_logits, label_smoothing)

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return lsgan_g_loss(fake_logits)


@losses.register("relativistic")
class RelativisticAdversarialLoss(AdversarialLoss):
    """Relativistic average objective (RaGAN, ESRGAN); the generator step also scores real images.

    See :func:`relativistic_d_loss` and :func:`relativistic_g_loss`.
    """

    needs_real_logits: ClassVar[bool] = True
    supports_label_smoothing: ClassVar[bool] = True

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
        return relativistic_d_loss(real_logits, fake_logits, label_smoothing)

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        if real_logits is None:
            raise ValueError("the relativistic generator loss needs the discriminator's outputs on real images "
                             "(real_logits); the engine passes them because needs_real_logits is True")
        return relativistic_g_loss(fake_logits, real_logits)
