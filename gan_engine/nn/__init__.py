"""Shared layers used by the built-in components (not a registry, no config)."""

from gan_engine.nn.layers import PixelShuffleUpsampler, icnr_

__all__ = ["PixelShuffleUpsampler", "icnr_"]
