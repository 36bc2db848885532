"""Tiny constructor arguments for every built-in component, so the contract runs in seconds."""

from __future__ import annotations

from typing import Any

TINY_GENERATORS: dict[str, dict[str, Any]] = {
    "srresnet": {"n_channels": 8, "n_blocks": 1},
    "rrdb": {"n_channels": 8, "n_blocks": 1, "growth_channels": 4},
    "rcab": {"n_channels": 8, "n_groups": 1, "n_blocks": 1, "reduction": 4},
    "lka": {"n_channels": 8, "n_blocks": 1},
    "stochastic": {"n_channels": 8, "n_blocks": 1, "noise_dim": 4},
    "unet": {"base_channels": 4, "depth": 2},
    "dcgan": {"latent_dim": 8, "image_size": 8, "base_channels": 4},
}

TINY_DISCRIMINATORS: dict[str, dict[str, Any]] = {
    "srgan": {"base_channels": 4, "n_stages": 2},
    "patchgan": {"base_channels": 4, "n_layers": 2},
    "esrgan": {"base_channels": 4, "n_stages": 2},
    "unet_sn": {"base_channels": 4, "depth": 2},
}


def builtin_names(registry: Any) -> list[str]:
    """Names of the components gan_engine itself defines (installed plugins are left out)."""
    return sorted(n for n in registry.names() if registry.describe(n).target.startswith("gan_engine."))
