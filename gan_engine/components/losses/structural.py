r"""Structure and spectrum losses: SSIM (through kornia) and the spectral angle (SAM)."""

from __future__ import annotations

from torch import Tensor

from gan_engine.components.losses.base import ContentLoss, check_pair, check_weight, weighted_mean
from gan_engine.metrics.image import spectral_angle
from gan_engine.registry import losses

__all__ = ["SAMLoss", "SSIMLoss", "sam_loss", "ssim_loss"]


def ssim_loss(pred: Tensor, target: Tensor, data_range: float = 1.0, window_size: int = 11,
              weight: Tensor | None = None) -> Tensor:
    r"""One minus the structural similarity, averaged over bands and pixels.

    .. math::
        \mathrm{SSIM}_p = \frac{(2\mu_{\hat y}\mu_y + C_1)(2\sigma_{\hat y y} + C_2)}
                               {(\mu_{\hat y}^2 + \mu_y^2 + C_1)(\sigma_{\hat y}^2 + \sigma_y^2 + C_2)},
        \qquad \mathcal{L} = 1 - \frac{1}{|\Omega|}\sum_p \mathrm{SSIM}_p

    with Gaussian-windowed (σ = 1.5) local means, variances and covariance computed per
    band (kornia), :math:`C_1 = (0.01 R)^2`, :math:`C_2 = (0.03 R)^2` and ``R`` the data
    range. 0 for identical images; at most 2.

    Args:
        pred: ``(N, C, H, W)`` prediction.
        target: ``(N, C, H, W)`` reference.
        data_range: ``R``, the span of valid values; it sets the stabilising constants.
        window_size: odd side of the Gaussian window.
        weight: optional per-pixel weight of the SSIM map (weighted mean).
    """
    check_pair(pred, target, "ssim loss")
    check_weight(weight, pred, "ssim loss")
    from kornia.metrics import ssim as kornia_ssim  # imported on first use: keeps `import gan_engine` light

    ssim_map = kornia_ssim(pred, target, window_size, max_val=data_range, padding="same")
    return 1.0 - weighted_mean(ssim_map, weight)


def sam_loss(pred: Tensor, target: Tensor, eps: float = 1e-8, weight: Tensor | None = None) -> Tensor:
    r"""Mean spectral angle, in radians, between the band vectors of each pixel.

    .. math:: \mathcal{L} = \frac{1}{|\Omega|}\sum_p \angle(\hat y_p, y_p)

    computed by :func:`gan_engine.metrics.spectral_angle` (Kahan's stable form). 0 for
    identical spectra, :math:`\pi/2` for orthogonal ones, unchanged when a spectrum is
    scaled: it penalises colour and spectral shape, not brightness, so pair it with a pixel
    loss. A one-band image has no spectral shape (the angle is 0 or π).

    Args:
        pred: ``(N, C, H, W)`` prediction.
        target: ``(N, C, H, W)`` reference.
        eps: smallest norm a spectrum is divided by.
        weight: optional per-pixel weight; a per-band ``(N, C, H, W)`` weight is averaged over bands.
    """
    check_pair(pred, target, "sam loss")
    check_weight(weight, pred, "sam loss")
    angle = spectral_angle(pred, target, eps=eps, reduction="none").unsqueeze(1)
    return weighted_mean(angle, None if weight is None else weight.mean(dim=1, keepdim=True))


@losses.register("ssim")
class SSIMLoss(ContentLoss):
    """``1 - SSIM`` between prediction and target; see :func:`ssim_loss`.

    Args:
        data_range: span of valid values (1.0 for [0, 1] data, 2.0 for [-1, 1]).
        window_size: odd side of the Gaussian window.
    """

    def __init__(self, data_range: float = 1.0, window_size: int = 11) -> None:
        super().__init__()
        if window_size < 1 or window_size % 2 == 0:
            raise ValueError(f"ssim window_size must be a positive odd number, got {window_size}")
        if data_range <= 0:
            raise ValueError(f"ssim data_range must be positive, got {data_range}")
        self.data_range, self.window_size = data_range, window_size

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return ssim_loss(pred, target, self.data_range, self.window_size, weight)


@losses.register("sam")
class SAMLoss(ContentLoss):
    """Mean spectral angle between prediction and target; see :func:`sam_loss`.

    Args:
        eps: smallest norm a spectrum is divided by.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return sam_loss(pred, target, self.eps, weight)
