"""Built-in losses; each module registers its classes in :data:`gan_engine.losses`."""

from gan_engine.components.losses import adversarial, content, lpips, perceptual, structural  # noqa: F401
from gan_engine.components.losses.base import ContentLoss

__all__ = ["ContentLoss"]
