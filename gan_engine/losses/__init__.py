"""Built-in losses; each module registers its classes in :data:`gan_engine.losses`."""

from gan_engine.losses import adversarial, content, lpips, perceptual, structural  # noqa: F401
from gan_engine.losses.base import ContentLoss

__all__ = ["ContentLoss"]
