"""``python -m gan_engine.validate --config PATH --checkpoint PATH``: evaluate a checkpoint.

The same as ``gan-engine validate``; prints every validation metric.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from gan_engine.cli import validate_main

__all__ = ["validate_main"]


class _CallableModule(types.ModuleType):
    """Importing ``gan_engine.validate`` binds that name on the package to this module, hiding
    the function ``ge.validate``; calling the module calls the function, so both keep working."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        from gan_engine.api import validate

        return validate(*args, **kwargs)


if __name__ == "__main__":
    raise SystemExit(validate_main())
sys.modules[__name__].__class__ = _CallableModule
