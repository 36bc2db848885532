"""Building blocks shared by generators and discriminators."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, TypeVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrizations

__all__ = [
    "NORMS",
    "ChannelAttention",
    "LayerNorm2d",
    "NormKind",
    "PixelShuffleUpsampler",
    "icnr_",
    "make_norm",
    "maybe_spectral_norm",
    "upsampling_factors",
]

M = TypeVar("M", bound=nn.Module)
NormKind = Literal["batch", "instance", "group", "layer", "none"]


def icnr_(weight: Tensor, factor: int) -> Tensor:
    """Initialise a sub-pixel convolution so its output starts free of checkerboard artefacts.

    ICNR (Aitken et al., 2017) initialises the ``factor²`` sub-kernels of each output channel
    identically, which makes the pixel shuffle start as nearest-neighbour upsampling.

    Args:
        weight: ``(C·factor², C_in, k, k)`` convolution weight, modified in place.
        factor: the pixel-shuffle factor.
    """
    out_ch, in_ch, kh, kw = weight.shape
    if out_ch % (factor**2):
        raise ValueError(f"ICNR needs out_channels divisible by factor**2={factor**2}, got {out_ch}")
    sub = torch.empty(out_ch // factor**2, in_ch, kh, kw, dtype=weight.dtype, device=weight.device)
    nn.init.kaiming_normal_(sub, nonlinearity="relu")
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(factor**2, dim=0))
    return weight


def upsampling_factors(scale: int) -> list[int]:
    """The sub-pixel stages that make up ``scale``: ``[2, 2]`` for 4, ``[3]`` for 3, ``[]`` for 1.

    Raises:
        ValueError: for a scale other than 1, 2, 3, 4 or 8.
    """
    if scale in (2, 4, 8):
        return [2] * int(math.log2(scale))
    if scale in (1, 3):
        return [scale] if scale == 3 else []
    raise ValueError(f"scale must be 1, 2, 3, 4 or 8, got {scale}")


class PixelShuffleUpsampler(nn.Sequential):
    """Upsample features by ``scale`` (1, 2, 4 or 8, or 3) with ×2 (or ×3) sub-pixel stages.

    Each stage is a 3×3 convolution to ``channels·f²`` channels (ICNR-initialised), a pixel
    shuffle by ``f`` and an activation. Scale 1 is the empty sequence (the identity).

    Args:
        channels: feature channels in and out.
        scale: total upsampling factor.
        activation: activation class instantiated after each stage.

    Shape:
        ``(N, channels, H, W)`` → ``(N, channels, H·scale, W·scale)``.
    """

    def __init__(self, channels: int, scale: int, activation: Callable[[], nn.Module] = nn.PReLU) -> None:
        stages: list[nn.Module] = []
        for f in upsampling_factors(scale):
            conv = nn.Conv2d(channels, channels * f * f, 3, padding=1)
            icnr_(conv.weight, f)
            assert conv.bias is not None
            nn.init.zeros_(conv.bias)
            stages += [conv, nn.PixelShuffle(f), activation()]
        super().__init__(*stages)


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channels of each pixel of an ``(N, C, H, W)`` map.

    Args:
        channels: ``C``.
        eps: added to the variance.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        h = x.float()  # statistics in float32 under mixed precision
        mean = h.mean(dim=1, keepdim=True)
        var = (h - mean).pow(2).mean(dim=1, keepdim=True)
        h = (h - mean) / torch.sqrt(var + self.eps)
        return (h * self.weight[:, None, None] + self.bias[:, None, None]).to(x.dtype)


def _group_norm(channels: int) -> nn.Module:
    groups = math.gcd(32, channels)
    return nn.GroupNorm(groups, channels)


NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": nn.BatchNorm2d,
    "instance": lambda c: nn.InstanceNorm2d(c, affine=True),
    "group": _group_norm,
    "layer": LayerNorm2d,
    "none": lambda c: nn.Identity(),
}


def make_norm(kind: str, channels: int) -> nn.Module:
    """A 2-d normalisation layer of the given kind.

    Args:
        kind: ``"batch"``, ``"instance"`` (affine), ``"group"`` (up to 32 groups),
            ``"layer"`` (over channels, per pixel) or ``"none"``.
        channels: channels normalised.

    Raises:
        ValueError: for an unknown kind, listing the known ones.
    """
    if kind not in NORMS:
        raise ValueError(f"unknown normalisation {kind!r}; choose one of {', '.join(NORMS)}")
    return NORMS[kind](channels)


def maybe_spectral_norm(module: M, enabled: bool) -> M:
    """Wrap ``module``'s weight in spectral normalisation (Miyato et al., 2018) when ``enabled``."""
    return parametrizations.spectral_norm(module) if enabled else module  # type: ignore[return-value]


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention (Hu et al., 2018), as used by RCAN.

    Global average pooling, a bottleneck of ``channels // reduction`` units and a sigmoid
    gate that rescales every channel.

    Args:
        channels: feature channels.
        reduction: bottleneck ratio; the bottleneck has at least one unit.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1), nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = x * self.gate(x)
        return out
