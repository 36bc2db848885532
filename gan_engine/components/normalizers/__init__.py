"""Built-in normalisers; each module registers its classes in :data:`gan_engine.normalizers`."""

from gan_engine.components.normalizers import base, chain, radiometric  # noqa: F401
from gan_engine.components.normalizers.base import Normalizer, NormalizerNotFittedError

__all__ = ["Normalizer", "NormalizerNotFittedError"]
