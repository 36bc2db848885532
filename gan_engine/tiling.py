"""Tiled inference: run a network on overlapping tiles and blend them without seams.

A convolutional generator's output pixel depends on the input pixels within its receptive
field. A tile computes exact outputs except within that radius of its *internal* edges (the
edges it shares with a neighbour; at the image border the tile sees the same padding as the
whole image). So each tile is weighted by a window that is 0 within ``margin`` of an internal
edge, rises smoothly (a raised cosine) across the rest of the overlap and is 1 inside; the
weighted outputs are summed and divided by the summed weights. Every output pixel then
blends only exact values, which is why a tiled result matches the untiled one to float
precision when ``overlap`` is at least twice the receptive radius plus one, and why no seam
can be measured.

Tiles are laid out evenly: ``n = ceil((L - overlap) / (tile - overlap))`` tiles per axis with
starts spread over ``[0, L - tile]``, so every overlap is at least ``overlap`` and the last
tile does not stick out. Where several tiles fit in one batch they run together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

__all__ = ["Accumulator", "TensorAccumulator", "TileGrid", "axis_window", "progress_bar", "run_tiled", "tile_inputs",
           "tile_starts"]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``[0, length)`` with at least ``overlap`` shared."""
    if tile >= length:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    return [round(k * (length - tile) / (n - 1)) for k in range(n)] if n > 1 else [0]


def axis_window(length: int, start_internal: bool, end_internal: bool, margin: int, ramp: int) -> Tensor:
    """1-D weights of a tile of ``length`` output pixels: 0 within ``margin`` of an internal edge, then a ramp."""
    d = torch.arange(length, dtype=torch.float64)
    w = torch.ones(length, dtype=torch.float64)
    for internal, dist in ((start_internal, d), (end_internal, length - 1 - d)):
        if internal:
            t = ((dist - margin + 1) / (ramp + 1)).clamp(0, 1)
            w = w * torch.sin(t * math.pi / 2) ** 2
    return w.float()


@dataclass(frozen=True)
class TileGrid:
    """Tile layout of an ``(H, W)`` input and the geometry of its output (``scale`` times larger)."""

    height: int
    width: int
    tile: int
    overlap: int
    scale: int = 1
    #: input pixels near an internal tile edge whose outputs are not trusted (the receptive radius)
    margin: int = 0

    @property
    def rows(self) -> list[int]:
        return tile_starts(self.height, min(self.tile, self.height), self.overlap)

    @property
    def cols(self) -> list[int]:
        return tile_starts(self.width, min(self.tile, self.width), self.overlap)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    def boxes(self) -> Iterator[tuple[int, int, int, int]]:
        """``(top, left, height, width)`` of every tile on the input grid, row by row."""
        th, tw = min(self.tile, self.height), min(self.tile, self.width)
        for top in self.rows:
            for left in self.cols:
                yield top, left, th, tw

    def window(self, top: int, left: int, height: int, width: int) -> Tensor:
        """``(h·s, w·s)`` blending weights of one tile on the output grid."""
        s = self.scale
        margin = min(self.margin, self.overlap // 2) * s
        ramp = max(0, self.overlap * s - 2 * margin)
        wy = axis_window(height * s, top > 0, top + height < self.height, margin, ramp)
        wx = axis_window(width * s, left > 0, left + width < self.width, margin, ramp)
        return wy[:, None] * wx[None, :]


class Accumulator(Protocol):
    """Where weighted tile outputs are summed: memory (:class:`TensorAccumulator`) or a file."""

    def add(self, top: int, left: int, values: Tensor, weights: Tensor) -> None:
        """Add ``values`` ``(C, h, w)`` times ``weights`` ``(h, w)`` at output ``(top, left)``."""


class TensorAccumulator:
    """Sums weighted tiles into a ``(C, H, W)`` CPU tensor; :meth:`result` divides by the weights."""

    def __init__(self, channels: int, height: int, width: int) -> None:
        self.total = torch.zeros(channels, height, width)
        self.weight = torch.zeros(height, width)

    def add(self, top: int, left: int, values: Tensor, weights: Tensor) -> None:
        h, w = weights.shape
        self.total[:, top:top + h, left:left + w] += values * weights
        self.weight[top:top + h, left:left + w] += weights

    def result(self) -> Tensor:
        return self.total / self.weight.clamp_min(1e-12)


def run_tiled(fn: Callable[[dict[str, Tensor]], Tensor], read: Callable[[int, int, int, int], dict[str, Tensor]],
              grid: TileGrid, out: Accumulator, batch_size: int = 8,
              progress: Callable[[int], None] | None = None) -> None:
    """Run ``fn`` on every tile of ``grid`` in batches and add the blended outputs to ``out``.

    Args:
        fn: maps a batch of input tiles (a mapping of ``(B, C, h, w)`` tensors) to ``(B, C', h·s, w·s)``.
        read: ``read(top, left, height, width)`` returns one tile's inputs as ``(C, h, w)`` tensors.
        grid: the tile layout.
        out: receives each tile's weighted output (on the CPU).
        batch_size: tiles per call of ``fn``.
        progress: called with the number of tiles finished by each batch.
    """
    boxes = list(grid.boxes())
    s = grid.scale
    for start in range(0, len(boxes), batch_size):
        chunk = boxes[start:start + batch_size]
        tiles = [read(*box) for box in chunk]
        batch = {k: torch.stack([t[k] for t in tiles]) for k in tiles[0]}
        outputs = fn(batch).float().cpu()  # one transfer per batch of tiles
        for (top, left, h, w), y in zip(chunk, outputs):
            out.add(top * s, left * s, y, grid.window(top, left, h, w))
        if progress is not None:
            progress(len(chunk))


def tile_inputs(inputs: Mapping[str, Tensor]) -> Callable[[int, int, int, int], dict[str, Tensor]]:
    """A ``read`` for :func:`run_tiled` over in-memory ``(C, H, W)`` tensors."""
    def read(top: int, left: int, height: int, width: int) -> dict[str, Tensor]:
        return {k: v[:, top:top + height, left:left + width] for k, v in inputs.items()}
    return read


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(total: int, show: bool, unit: str = "tile") -> Any:
    """A tqdm bar over ``total`` items when ``show``, else an object whose ``update`` does nothing."""
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, leave=unit == "file")
