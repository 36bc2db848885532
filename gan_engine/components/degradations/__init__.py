"""Built-in degradation models; each module registers its class in :data:`gan_engine.degradations`."""

from gan_engine.components.degradations import classic, second_order  # noqa: F401
from gan_engine.components.degradations.base import Degradation

__all__ = ["Degradation"]
