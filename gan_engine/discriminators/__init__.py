"""Built-in discriminators; each module registers its classes in :data:`gan_engine.discriminators`."""

from gan_engine.discriminators import srgan  # noqa: F401
