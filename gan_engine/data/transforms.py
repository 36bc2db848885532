"""Crops aligned across resolutions, and the eight flips and right-angle rotations.

Every function treats an item as a mapping of names to ``(C, H, W)`` tensors that show the
same scene on grids of different resolution. ``factors`` says how many pixels of each
tensor cover one pixel of the coarsest ("base") grid: for super-resolution pairs
``{"lr": 1, "hr": scale}``. Crops are chosen on the base grid, so the LR and HR crops
always cover exactly the same ground.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from gan_engine.errors import DataError

__all__ = ["choose_crop", "crop_item", "dihedral", "randint"]


def randint(high: int, rng: torch.Generator | None) -> int:
    """A uniform integer in ``[0, high)`` from ``rng`` (the global generator when ``None``)."""
    return int(torch.randint(high, (1,), generator=rng).item())


def base_size(item: Mapping[str, Tensor], factors: Mapping[str, int]) -> tuple[int, int]:
    """``(H, W)`` of the base grid; raises when the tensors do not line up."""
    sizes = {k: (item[k].shape[-2] // f, item[k].shape[-1] // f) for k, f in factors.items() if k in item}
    if len(set(sizes.values())) > 1:
        raise DataError(f"tensors of one item do not line up at the given scale factors {dict(factors)}: "
                        f"base-grid sizes {sizes}")
    return next(iter(sizes.values()))


def choose_crop(height: int, width: int, size: int, rng: torch.Generator | None, random: bool) -> tuple[int, int]:
    """``(top, left)`` of a ``size``×``size`` crop: uniform when ``random``, else centred."""
    if height < size or width < size:
        raise DataError(f"an image of {height}×{width} base-grid pixels is smaller than the {size}×{size} crop")
    if not random:
        return (height - size) // 2, (width - size) // 2
    return randint(height - size + 1, rng), randint(width - size + 1, rng)


def crop_item(item: Mapping[str, Tensor], factors: Mapping[str, int], top: int, left: int,
              size: int) -> dict[str, Tensor]:
    """Crop every tensor named in ``factors`` at ``(top, left)`` of the base grid; copy the rest.

    The crops are copies, not views: they neither keep a whole decoded image alive nor write
    through to a cached one.
    """
    out = dict(item)
    for key, f in factors.items():
        if key in out:
            out[key] = out[key][..., top * f:(top + size) * f, left * f:(left + size) * f].clone()
    return out


def dihedral(item: Mapping[str, Tensor], keys: list[str], rng: torch.Generator | None) -> dict[str, Tensor]:
    """Apply one of the eight flips/right-angle rotations, the same one to every tensor in ``keys``."""
    k, flip = randint(4, rng), randint(2, rng)
    out = dict(item)
    for key in keys:
        if key in out:
            t = torch.rot90(out[key], k, dims=(-2, -1))
            out[key] = (t.flip(-1) if flip else t).contiguous()
    return out
