"""Built-in data modules. They import Lightning, so they are declared here by name and
imported on first use: ``import gan_engine`` and ``datamodules.names()`` stay light.

The notebook helpers :func:`from_tensors` and :func:`from_datasets`, and
:func:`seeded_loader` (a training loader that resumes mid-epoch exactly, for your own data
modules), load the same way, on first attribute access.
"""

from importlib import import_module
from typing import Any

from gan_engine.registry import datamodules

# name -> "module:attribute"; each module also registers its class at the definition site.
_BUILTINS: dict[str, str] = {
    "synthetic_sr": "gan_engine.data.synthetic:SyntheticSRDataModule",
    "synthetic_i2i": "gan_engine.data.synthetic_tasks:SyntheticI2IDataModule",
    "synthetic_inpainting": "gan_engine.data.synthetic_tasks:SyntheticInpaintingDataModule",
    "synthetic_synthesis": "gan_engine.data.synthetic_tasks:SyntheticSynthesisDataModule",
    "image_folder": "gan_engine.data.image_folder:ImageFolderDataModule",
    "paired_folder": "gan_engine.data.paired_folder:PairedFolderDataModule",
}

for _name, _target in _BUILTINS.items():
    datamodules.declare(_name, _target)

_LAZY = {"from_tensors": "gan_engine.data.memory", "from_datasets": "gan_engine.data.memory",
         "GanDataModule": "gan_engine.data.base", "seeded_loader": "gan_engine.data.sampling",
         "SeededSampler": "gan_engine.data.sampling", "SampleKey": "gan_engine.data.sampling"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gan_engine.data' has no attribute {name!r}")


__all__ = ["GanDataModule", "SampleKey", "SeededSampler", "from_datasets", "from_tensors", "seeded_loader"]
