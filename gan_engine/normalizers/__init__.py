"""Built-in normalisers; each module registers its classes in :data:`gan_engine.normalizers`."""

from gan_engine.normalizers import base  # noqa: F401
