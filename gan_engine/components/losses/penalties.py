r"""Discriminator regularisers: the R1 penalty and the WGAN gradient penalty.

Both differentiate the discriminator's output with respect to its *input*. A patch
discriminator returns many outputs per image; both penalties first average them per
image, so the penalty measures the gradient of one score per image and does not grow with
the number of patches (summing the patches would multiply the penalty by up to their
count, and change its meaning whenever the crop size changes).

Lazy regularisation (Karras et al., 2020): applying R1 only every :math:`k` iterations
with the penalty multiplied by :math:`k` keeps its strength on average. The extra
optimizer step is compensated by running the discriminator's Adam with
:math:`\mathrm{lr}\cdot c` and :math:`\beta_i^{\,c}`, where :math:`c = k/(k+1)`
(:func:`lazy_regularization_ratio`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from gan_engine.registry import losses

__all__ = [
    "GradientPenalty",
    "R1Penalty",
    "gradient_penalty",
    "lazy_adam_hyperparameters",
    "lazy_regularization_ratio",
    "r1_penalty",
]


def _per_sample_score(outputs: Tensor) -> Tensor:
    """``(N, ...)`` discriminator outputs → ``(N,)``: one mean score per image."""
    return outputs.reshape(outputs.shape[0], -1).mean(dim=1)


def r1_penalty(real_outputs: Tensor, real: Tensor) -> Tensor:
    r"""R1 penalty (Mescheder et al., 2018): squared input-gradient norm on real images.

    .. math:: R_1 = \frac1N \sum_{n=1}^{N} \big\| \nabla_{x_n}\, \bar D(x_n) \big\|_2^2

    where :math:`\bar D(x_n)` is the mean of the discriminator's outputs for image
    :math:`n`. The training loss adds :math:`\tfrac{\gamma}{2} R_1`. The graph is kept
    (``create_graph=True``) so the penalty can be back-propagated into the discriminator.

    Args:
        real_outputs: ``(N, ...)`` discriminator outputs computed from ``real``.
        real: ``(N, C, H, W)`` real images with ``requires_grad=True``.

    Returns:
        A scalar tensor.
    """
    if not real.requires_grad:
        raise ValueError("r1_penalty needs the real images with requires_grad=True before the discriminator runs; "
                         "call real = real.detach().requires_grad_(True) first")
    (grad,) = torch.autograd.grad(_per_sample_score(real_outputs).sum(), real, create_graph=True)
    return grad.pow(2).reshape(grad.shape[0], -1).sum(dim=1).mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
    r"""WGAN-GP gradient penalty (Gulrajani et al., 2017) on random interpolates.

    .. math:: \mathrm{GP} = \frac1N \sum_{n} \big(\|\nabla_{\hat x_n} \bar D(\hat x_n)\|_2 - 1\big)^2,
        \qquad \hat x_n = \alpha_n x_n + (1 - \alpha_n)\, G(z)_n,\ \alpha_n \sim U(0, 1)

    Args:
        critic: maps ``(N, C, H, W)`` images to ``(N, ...)`` outputs.
        real: ``(N, C, H, W)`` real images.
        fake: ``(N, C, H, W)`` generated images (detached or not; the penalty detaches them).
        generator: random generator of the interpolation weights.

    Returns:
        A scalar tensor.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty needs real and fake of the same shape, "
                         f"got {tuple(real.shape)} and {tuple(fake.shape)}")
    alpha = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype,
                       generator=generator)
    mixed = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(_per_sample_score(critic(mixed)).sum(), mixed, create_graph=True)
    norm = (grad.pow(2).reshape(grad.shape[0], -1).sum(dim=1) + 1e-12).sqrt()
    return (norm - 1.0).pow(2).mean()


def lazy_regularization_ratio(interval: float) -> float:
    """:math:`c = k / (k + 1)` for a regulariser applied every ``k`` discriminator steps; 1 when not lazy."""
    if interval <= 1:
        return 1.0
    return interval / (interval + 1.0)


def lazy_adam_hyperparameters(lr: float, betas: Sequence[float], interval: float) -> tuple[float, tuple[float, float]]:
    """The discriminator's Adam ``lr`` and ``betas`` corrected for lazy regularisation every ``interval`` steps."""
    c = lazy_regularization_ratio(interval)
    beta1, beta2 = betas
    return lr * c, (beta1**c, beta2**c)


@losses.register("r1")
class R1Penalty(nn.Module):
    r"""The weighted R1 term :math:`\tfrac{\gamma}{2}\, k\, R_1` (see :func:`r1_penalty`).

    Args:
        gamma: weight :math:`\gamma`.
        interval: lazy interval :math:`k`; the penalty is multiplied by it.

    The engine builds it from ``Training.Stability.r1_gamma`` and ``d_reg_every``.
    """

    kind = "penalty"

    def __init__(self, gamma: float, interval: int = 1) -> None:
        super().__init__()
        if gamma < 0 or interval < 1:
            raise ValueError(f"R1Penalty needs gamma ≥ 0 and interval ≥ 1, got gamma={gamma}, interval={interval}")
        self.gamma, self.interval = gamma, interval

    def forward(self, real_outputs: Tensor, real: Tensor) -> Tensor:
        return 0.5 * self.gamma * self.interval * r1_penalty(real_outputs, real)


@losses.register("gradient_penalty")
class GradientPenalty(nn.Module):
    """The weighted WGAN-GP term ``weight · GP`` (see :func:`gradient_penalty`).

    Args:
        weight: weight of the penalty (10 in the WGAN-GP paper).

    The engine builds it from ``Training.Stability.gp_weight``.
    """

    kind = "penalty"

    def __init__(self, weight: float) -> None:
        super().__init__()
        if weight < 0:
            raise ValueError(f"GradientPenalty needs weight ≥ 0, got {weight}")
        self.weight = weight

    def forward(self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        return self.weight * gradient_penalty(critic, real, fake)
