"""Hole masks for training inpainting models from plain images.

Each generator returns a ``(1, H, W)`` float mask with 1 on the hole (the pixels to fill)
and 0 on the known pixels. They are pure functions of the random generator passed in, so
validation masks are the same on every run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from gan_engine.data.transforms import randint

__all__ = ["MASK_GENERATORS", "MaskKind", "box_mask", "make_mask", "stroke_mask"]

MaskKind = Literal["boxes", "strokes", "mixed"]


def _uniform(lo: float, hi: float, rng: torch.Generator | None) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=rng))


def box_mask(height: int, width: int, rng: torch.Generator | None = None, max_boxes: int = 3,
             min_size: float = 0.1, max_size: float = 0.45) -> Tensor:
    """Between 1 and ``max_boxes`` axis-aligned rectangles.

    Args:
        height: mask height.
        width: mask width.
        rng: random generator; the global one when ``None``.
        max_boxes: largest number of rectangles.
        min_size: smallest side, as a fraction of the image side.
        max_size: largest side, as a fraction of the image side.
    """
    mask = torch.zeros(1, height, width)
    for _ in range(1 + randint(max_boxes, rng)):
        bh = max(1, round(_uniform(min_size, max_size, rng) * height))
        bw = max(1, round(_uniform(min_size, max_size, rng) * width))
        top, left = randint(height - bh + 1, rng), randint(width - bw + 1, rng)
        mask[:, top:top + bh, left:left + bw] = 1.0
    return mask


def _segment_distance(yy: Tensor, xx: Tensor, p: tuple[float, float], q: tuple[float, float]) -> Tensor:
    """Distance of every pixel centre to the segment ``p``–``q``."""
    dy, dx = q[0] - p[0], q[1] - p[1]
    t = (((yy - p[0]) * dy + (xx - p[1]) * dx) / max(dy * dy + dx * dx, 1e-6)).clamp(0, 1)
    return torch.hypot(yy - (p[0] + t * dy), xx - (p[1] + t * dx))


def stroke_mask(height: int, width: int, rng: torch.Generator | None = None, max_strokes: int = 4,
                max_vertices: int = 6, min_width: float = 0.03, max_width: float = 0.1) -> Tensor:
    """Free-form brush strokes: thick polylines with random turns, like hand-drawn holes.

    Args:
        height: mask height.
        width: mask width.
        rng: random generator; the global one when ``None``.
        max_strokes: largest number of strokes.
        max_vertices: largest number of vertices per stroke.
        min_width: thinnest brush, as a fraction of the image side.
        max_width: thickest brush, as a fraction of the image side.
    """
    side = min(height, width)
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    mask = torch.zeros(height, width, dtype=torch.bool)
    for _ in range(1 + randint(max_strokes, rng)):
        radius = max(0.75, _uniform(min_width, max_width, rng) * side / 2)
        point = (_uniform(0, height - 1, rng), _uniform(0, width - 1, rng))
        angle = _uniform(0, 2 * math.pi, rng)
        for _ in range(2 + randint(max_vertices - 1, rng)):
            angle += _uniform(-math.pi / 2, math.pi / 2, rng)
            length = _uniform(0.1, 0.35, rng) * side
            nxt = (min(max(point[0] + length * math.sin(angle), 0.0), height - 1.0),
                   min(max(point[1] + length * math.cos(angle), 0.0), width - 1.0))
            mask |= _segment_distance(yy, xx, point, nxt) <= radius
            point = nxt
    return mask.float()[None]


def _mixed(height: int, width: int, rng: torch.Generator | None = None) -> Tensor:
    pick = randint(2, rng)
    return box_mask(height, width, rng) if pick == 0 else stroke_mask(height, width, rng)


#: Mask generators by name: ``(height, width, rng) -> (1, H, W)`` masks.
MASK_GENERATORS: dict[str, Callable[..., Tensor]] = {"boxes": box_mask, "strokes": stroke_mask, "mixed": _mixed}


def make_mask(kind: str, height: int, width: int, rng: torch.Generator | None = None) -> Tensor:
    """A ``(1, H, W)`` hole mask of the given ``kind`` (``boxes``, ``strokes`` or ``mixed``)."""
    if kind not in MASK_GENERATORS:
        raise ValueError(f"unknown mask kind {kind!r}; choose one of {sorted(MASK_GENERATORS)}")
    return MASK_GENERATORS[kind](height, width, rng)
