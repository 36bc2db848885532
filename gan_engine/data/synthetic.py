"""Procedural multi-band scenes for training and testing without downloading anything.

A scene is a small map of "materials": each material has its own spectrum (random, but
smooth across bands, so the bands are correlated the way reflectance is). A smoothly
varying background holds polygons and ellipses with sharp, anti-aliased edges, soft
shading and, on some of them, a stripe texture; thin lines cross the scene. This is the
structure a super-resolution model can learn to restore (edge positions, line continuity,
texture phase) and that bicubic interpolation blurs. Detail finer than the low-resolution
grid can represent (one-pixel noise, stripes above its Nyquist frequency) is left out, since
no model can recover it and it only adds noise to the metrics.

Scenes are a pure function of ``(seed, index)``: the data set is the same on every machine
and the first ``k`` scenes do not depend on how many are made.
"""

from __future__ import annotations

import math

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from gan_engine.data.base import CropSize
from gan_engine.data.sampling import seeded_loader
from gan_engine.params import NonNegativeInt, PositiveInt
from gan_engine.registry import datamodules

__all__ = ["SyntheticSRDataModule", "SyntheticSRDataset", "make_scenes"]

_CHUNK = 32  # scenes drawn per random stream; fixed so scene i never depends on n
_SUPERSAMPLE = 2  # shapes are drawn at twice the size, then box-filtered: anti-aliased edges


def _spectra(g: torch.Generator, n: int, materials: int, bands: int) -> Tensor:
    """``(n, materials, bands)`` smooth random spectra in [0.05, 0.95]."""
    anchors = torch.rand(n, materials, 3, generator=g)
    curve = F.interpolate(anchors.reshape(n * materials, 1, 3), size=bands, mode="linear", align_corners=True)
    return (0.05 + 0.9 * curve).reshape(n, materials, bands)


def _smooth_field(g: torch.Generator, n: int, size: int) -> Tensor:
    """``(n, 1, size, size)`` low-frequency field in [0, 1]."""
    out = torch.zeros(n, 1, size, size)
    for cells in (2, 3, 5):
        noise = torch.rand(n, 1, cells, cells, generator=g)
        out += F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=True) / cells
    out -= out.amin(dim=(2, 3), keepdim=True)
    return out / out.amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)


def _uniform(g: torch.Generator, n: int, low: float, high: float) -> Tensor:
    return (low + (high - low) * torch.rand(n, 1, 1, generator=g))


def _shape_mask(g: torch.Generator, n: int, xx: Tensor, yy: Tensor) -> tuple[Tensor, Tensor]:
    """A random polygon (3 to 6 sides) or ellipse per scene: ``(mask, u)`` with u a rotated coordinate."""
    cx, cy = _uniform(g, n, -0.9, 0.9), _uniform(g, n, -0.9, 0.9)
    radius, theta = _uniform(g, n, 0.08, 0.45), _uniform(g, n, 0.0, math.pi)
    dx, dy = xx - cx, yy - cy
    u = dx * torch.cos(theta) + dy * torch.sin(theta)
    v = -dx * torch.sin(theta) + dy * torch.cos(theta)
    aspect = _uniform(g, n, 0.4, 1.0)
    ellipse = (u / radius) ** 2 + (v / (radius * aspect)) ** 2 < 1
    sides = torch.randint(3, 7, (n, 1, 1), generator=g)
    polygon = torch.ones_like(ellipse)
    for k in range(6):
        phi = theta + 2 * math.pi * k / sides + _uniform(g, n, -0.3, 0.3)
        inside = dx * torch.cos(phi) + dy * torch.sin(phi) < radius
        polygon &= inside | (k >= sides)
    is_ellipse = torch.rand(n, 1, 1, generator=g) < 0.35
    return torch.where(is_ellipse, ellipse, polygon).float(), u


def _draw_chunk(g: torch.Generator, n: int, bands: int, size: int, materials: int, shapes: int) -> Tensor:
    big = size * _SUPERSAMPLE
    axis = torch.linspace(-1, 1, big)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    spectra = _spectra(g, n, materials, bands)  # (n, M, C)
    field = _smooth_field(g, n, big)
    img = spectra[:, 0, :, None, None] * (0.55 + 0.45 * field) + spectra[:, 1, :, None, None] * 0.35 * (1 - field)
    rows = torch.arange(n)
    for _ in range(shapes):
        mask, u = _shape_mask(g, n, xx, yy)
        colour = spectra[rows, torch.randint(2, materials, (n,), generator=g)][:, :, None, None]
        shade = 0.8 + 0.2 * torch.tanh(u * _uniform(g, n, -2.0, 2.0))  # soft illumination gradient
        period = _uniform(g, n, 0.35, 0.9)  # ≥ ~11 px at 64 px: resolvable after ×4 downsampling
        striped = (torch.rand(n, 1, 1, generator=g) < 0.4).float()
        texture = 1 - striped * 0.2 * (1 + torch.sin(2 * math.pi * u / period))
        img = torch.lerp(img, colour * (shade * texture)[:, None], mask[:, None])
    for _ in range(3):  # thin lines (roads, field boundaries): one to two pixels wide
        theta, offset = _uniform(g, n, 0.0, math.pi), _uniform(g, n, -0.8, 0.8)
        width = _uniform(g, n, 1.0, 2.0) / size
        dist = (xx * torch.cos(theta) + yy * torch.sin(theta) - offset).abs()
        present = (torch.rand(n, 1, 1, generator=g) < 0.7).float()
        line = ((dist < width).float() * present)[:, None]
        img = torch.lerp(img, spectra[:, -1, :, None, None].expand_as(img), line)
    return F.avg_pool2d(img, _SUPERSAMPLE).clamp(0, 1)


def make_scenes(n: int, bands: int, size: int, seed: int, n_materials: int = 6, n_shapes: int = 10) -> Tensor:
    """Draw ``n`` procedural scenes.

    Args:
        n: number of scenes.
        bands: number of spectral bands ``C``.
        size: side ``S`` of each square scene, in pixels.
        seed: seed of the scenes; scene ``i`` depends only on ``seed`` and ``i``.
        n_materials: distinct spectra per scene (at least 3).
        n_shapes: polygons and ellipses per scene.

    Returns:
        ``(n, C, S, S)`` float tensor in [0, 1].
    """
    if n_materials < 3:
        raise ValueError(f"n_materials must be ≥ 3, got {n_materials}")
    chunks = []
    for start in range(0, n, _CHUNK):
        g = torch.Generator().manual_seed(seed * 1_000_003 + start // _CHUNK)
        chunks.append(_draw_chunk(g, _CHUNK, bands, size, n_materials, n_shapes))
    return torch.cat(chunks)[:n] if chunks else torch.zeros(0, bands, size, size)


class SyntheticSRDataset(Dataset[dict[str, Tensor]]):
    """LR/HR pairs of procedural scenes; LR is the antialiased bicubic downsampling of HR."""

    def __init__(self, n: int, bands: int, hr_size: int, scale: int, seed: int) -> None:
        if hr_size % scale:
            raise ValueError(f"hr_size ({hr_size}) must be a multiple of the scale ({scale})")
        self.hr = make_scenes(n, bands, hr_size, seed)
        self.lr = F.interpolate(self.hr, scale_factor=1 / scale, mode="bicubic", antialias=True,
                                align_corners=False).clamp(0, 1)

    def __len__(self) -> int:
        return self.hr.shape[0]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"lr": self.lr[index], "hr": self.hr[index]}


@datamodules.register("synthetic_sr")
class SyntheticSRDataModule(L.LightningDataModule):
    """Embedded super-resolution data: procedural multi-band scenes, nothing to download.

    Args:
        bands: number of spectral bands.
        hr_size: side of the square HR images.
        scale: LR/HR size ratio (derived from ``Task.scale``).
        batch_size: training batch size.
        val_batch_size: validation batch size.
        train_size: number of training scenes.
        val_size: number of validation scenes.
        seed: seed of the scenes (validation uses ``seed + 1``).
        num_workers: data-loader worker processes.
    """

    def __init__(self, bands: PositiveInt = 4, hr_size: CropSize = 64, scale: PositiveInt = 4,
                 batch_size: PositiveInt = 8, val_batch_size: PositiveInt = 8, train_size: PositiveInt = 512,
                 val_size: PositiveInt = 32, seed: NonNegativeInt = 0, num_workers: NonNegativeInt = 0) -> None:
        super().__init__()
        self.bands, self.hr_size, self.scale = bands, hr_size, scale
        self.batch_size, self.val_batch_size, self.num_workers = batch_size, val_batch_size, num_workers
        self.train_size, self.val_size, self.seed = train_size, val_size, seed
        self.train_set: SyntheticSRDataset | None = None
        self.val_set: SyntheticSRDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = SyntheticSRDataset(self.train_size, self.bands, self.hr_size, self.scale, self.seed)
            self.val_set = SyntheticSRDataset(self.val_size, self.bands, self.hr_size, self.scale, self.seed + 1)

    def train_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        assert self.train_set is not None, "call setup() first"
        return seeded_loader(self.train_set, self.seed, batch_size=self.batch_size, drop_last=True,
                            num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        assert self.val_set is not None, "call setup() first"
        # its own generator: validating never draws from the global RNG, so it cannot shift training
        return DataLoader(self.val_set, batch_size=self.val_batch_size, num_workers=self.num_workers,
                          generator=torch.Generator().manual_seed(self.seed + 2))

    def test_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        return self.val_dataloader()
