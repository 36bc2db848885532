"""Built-in tasks; each module registers its class in :data:`gan_engine.tasks`."""

from gan_engine.components.tasks import image_to_image, inpainting, super_resolution, synthesis  # noqa: F401
from gan_engine.components.tasks.base import Task

__all__ = ["Task"]
