"""Built-in callbacks. They import Lightning, so they are declared here by name and imported
on first use: ``import gan_engine`` and ``callbacks.names()`` stay light."""

from gan_engine.registry import callbacks

# name -> "module:attribute"; each module also registers its class at the definition site.
_BUILTINS: dict[str, str] = {
    "ema": "gan_engine.callbacks.ema:EMA",
    "gan_health": "gan_engine.callbacks.gan_health:GANHealthMonitor",
    "gradient_norm": "gan_engine.callbacks.gradient_norm:GradientNormMonitor",
}

for _name, _target in _BUILTINS.items():
    callbacks.declare(_name, _target)
