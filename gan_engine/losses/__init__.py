"""Built-in losses; each module registers its classes in :data:`gan_engine.losses`."""

from gan_engine.losses import adversarial, content  # noqa: F401
