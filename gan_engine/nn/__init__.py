"""Shared layers used by the built-in components (not a registry, no config)."""

from gan_engine.nn.bands import BandSpec, band_triplets, select_triplets, to_imagenet
from gan_engine.nn.layers import (
    ChannelAttention,
    LayerNorm2d,
    PixelShuffleUpsampler,
    icnr_,
    make_norm,
    maybe_spectral_norm,
    upsampling_factors,
)
from gan_engine.nn.pretrained import FrozenNet, WeightsNotFoundError, hub_checkpoint_dir, resolve_weights

__all__ = [
    "BandSpec",
    "ChannelAttention",
    "FrozenNet",
    "LayerNorm2d",
    "PixelShuffleUpsampler",
    "WeightsNotFoundError",
    "band_triplets",
    "hub_checkpoint_dir",
    "icnr_",
    "make_norm",
    "maybe_spectral_norm",
    "resolve_weights",
    "select_triplets",
    "to_imagenet",
    "upsampling_factors",
]
