"""gan_engine: train generative adversarial networks on PyTorch Lightning.

Registries (``generators``, ``discriminators``, ``losses``, ``normalizers``, ``callbacks``,
``tasks``, ``datamodules``, ``degradations``), a typed configuration (``load_config``) and a training engine
(``GANModule``, ``fit``). Importing the package does not import Lightning; the training
entry points load it on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Import the built-in components first: each registers itself at its definition site.
# Their code lives under ``gan_engine.components``; ``gan_engine.generators`` and its
# siblings are the registries, and no module path shares a registry's name.
import gan_engine.components.callbacks
import gan_engine.components.degradations
import gan_engine.components.discriminators
import gan_engine.components.generators
import gan_engine.components.losses
import gan_engine.components.normalizers
import gan_engine.components.tasks
import gan_engine.data  # noqa: F401
from gan_engine._version import __version__
from gan_engine.config import ComponentSpec, Config, config_schema, load_config
from gan_engine.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    GanEngineError,
    PluginError,
    RegistryError,
    RunLockedError,
    ShapeError,
)
from gan_engine.registry import (
    Registry,
    callbacks,
    datamodules,
    degradations,
    discriminators,
    generators,
    losses,
    normalizers,
    tasks,
)

if TYPE_CHECKING:
    from gan_engine.api import FitResult, fit, validate
    from gan_engine.export import export
    from gan_engine.inference import load_generator
    from gan_engine.predictor import Predictor, load_predictor
    from gan_engine.run.catalog import RunInfo, RunView, list_runs, open_run
    from gan_engine.training.module import GANModule

# Names whose modules import Lightning (or, for ``export``, its optional packages on use):
# loaded on first attribute access (PEP 562).
_LAZY = {
    "GANModule": "gan_engine.training.module",
    "FitResult": "gan_engine.api",
    "fit": "gan_engine.api",
    "validate": "gan_engine.api",
    "load_generator": "gan_engine.inference",
    "Predictor": "gan_engine.predictor",
    "load_predictor": "gan_engine.predictor",
    "export": "gan_engine.export",
    "list_runs": "gan_engine.run.catalog",
    "open_run": "gan_engine.run.catalog",
    "RunInfo": "gan_engine.run.catalog",
    "RunView": "gan_engine.run.catalog",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gan_engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "CheckpointError",
    "ComponentSpec",
    "Config",
    "ConfigError",
    "DataError",
    "FitResult",
    "GANModule",
    "GanEngineError",
    "PluginError",
    "Predictor",
    "Registry",
    "RegistryError",
    "RunInfo",
    "RunLockedError",
    "RunView",
    "ShapeError",
    "__version__",
    "callbacks",
    "config_schema",
    "datamodules",
    "degradations",
    "discriminators",
    "export",
    "fit",
    "generators",
    "load_config",
    "load_generator",
    "load_predictor",
    "list_runs",
    "open_run",
    "losses",
    "normalizers",
    "tasks",
    "validate",
]
