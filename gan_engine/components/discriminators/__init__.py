"""Built-in discriminators; each module registers its classes in :data:`gan_engine.discriminators`."""

from gan_engine.components.discriminators import esrgan, patchgan, srgan, unet_sn  # noqa: F401
from gan_engine.components.discriminators.base import Discriminator

__all__ = ["Discriminator"]
