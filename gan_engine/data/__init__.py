"""Built-in data modules. They import Lightning, so they are declared here by name and
imported on first use: ``import gan_engine`` and ``datamodules.names()`` stay light."""

from gan_engine.registry import datamodules

# name -> "module:attribute"; each module also registers its class at the definition site.
_BUILTINS: dict[str, str] = {
    "synthetic_sr": "gan_engine.data.synthetic:SyntheticSRDataModule",
}

for _name, _target in _BUILTINS.items():
    datamodules.declare(_name, _target)
