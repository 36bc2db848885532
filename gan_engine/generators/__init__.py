"""Built-in generators; each module registers its classes in :data:`gan_engine.generators`."""

from gan_engine.generators import srresnet  # noqa: F401
