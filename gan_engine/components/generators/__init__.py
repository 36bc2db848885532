"""Built-in generators; each module registers its classes in :data:`gan_engine.generators`."""

from gan_engine.components.generators import dcgan, lka, rcab, rrdb, srresnet, stochastic, unet  # noqa: F401
from gan_engine.components.generators.base import Generator

__all__ = ["Generator"]
