"""Procedural multi-band scenes for training and testing without downloading anything.

Each scene is built from a handful of "materials" (a random spectrum per material, so the
bands are correlated the way real reflectance is) laid out as a smooth multi-octave field,
sharp-edged polygons and discs, oriented gratings (texture) and thin lines and dots (fine
detail a super-resolution model must recover). Scenes are a pure function of the seed and
the index, so the data set is identical on every machine.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, RandomSampler

from gan_engine.registry import datamodules

try:  # loaders that save their position: Lightning then resumes mid-epoch checkpoints exactly
    from torchdata.stateful_dataloader import StatefulDataLoader
    from torchdata.stateful_dataloader.sampler import RandomSampler as _StatefulRandomSampler
except ImportError:  # without torchdata, a mid-epoch resume restarts the epoch (Lightning warns)
    StatefulDataLoader = None


def _shuffled_loader(dataset: Dataset[dict[str, Tensor]], seed: int, **kwargs: Any) -> DataLoader[Any]:
    """A shuffling loader whose order is a function of ``seed`` and which never draws from the global RNG.

    With torchdata it is resumable mid-epoch: the sampler (a torch ``RandomSampler``, so that
    Lightning still shards it under DDP) has its own generator and saves its position, and the
    loader's worker seeds come from a second generator.
    """
    if StatefulDataLoader is None:
        return DataLoader(dataset, shuffle=True, generator=torch.Generator().manual_seed(seed), **kwargs)

    class _ResumableRandomSampler(_StatefulRandomSampler, RandomSampler):  # type: ignore[misc]
        pass

    sampler = _ResumableRandomSampler(dataset, generator=torch.Generator().manual_seed(seed))  # type: ignore[arg-type]
    return StatefulDataLoader(dataset, sampler=sampler, generator=torch.Generator().manual_seed(seed + 1), **kwargs)

__all__ = ["SyntheticSRDataModule", "SyntheticSRDataset", "make_scenes"]


def _smooth_field(g: torch.Generator, n: int, size: int) -> Tensor:
    out = torch.zeros(n, 1, size, size)
    for octave in range(2, 6):
        cells = 2**octave
        noise = torch.rand(n, 1, cells, cells, generator=g)
        out += F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False) / octave
    out -= out.amin(dim=(2, 3), keepdim=True)
    return out / out.amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)


def make_scenes(n: int, bands: int, size: int, seed: int, n_materials: int = 6) -> Tensor:
    """``n`` scenes of shape ``(bands, size, size)`` in [0, 1], deterministic in ``seed``."""
    g = torch.Generator().manual_seed(seed)
    spectra = torch.rand(n, n_materials, bands, generator=g) * 0.8 + 0.1  # (n, M, C)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    field = _smooth_field(g, n, size)  # (n, 1, H, W)
    img = spectra[:, 0, :, None, None] * (0.6 + 0.4 * field) + spectra[:, 1, :, None, None] * 0.3 * (1 - field)
    for _ in range(5):  # sharp-edged regions: rotated rectangles and discs, some textured
        cx, cy, r = (torch.rand(3, n, 1, 1, generator=g) * torch.tensor([1.6, 1.6, 0.5]).view(3, 1, 1, 1)
                     + torch.tensor([-0.8, -0.8, 0.15]).view(3, 1, 1, 1))
        theta = torch.rand(n, 1, 1, generator=g) * math.pi
        u = (xx - cx) * torch.cos(theta) + (yy - cy) * torch.sin(theta)
        v = -(xx - cx) * torch.sin(theta) + (yy - cy) * torch.cos(theta)
        is_disc = torch.rand(n, 1, 1, generator=g) < 0.4
        aspect = 0.3 + torch.rand(n, 1, 1, generator=g)
        mask = torch.where(is_disc, u**2 + v**2 < r**2, (u.abs() < r) & (v.abs() < r * aspect)).float()
        freq = 4 + torch.rand(n, 1, 1, generator=g) * 16
        textured = (torch.rand(n, 1, 1, generator=g) < 0.5).float()
        texture = 1 - textured * 0.25 * (1 + torch.sin(freq * math.pi * u))
        mat = torch.randint(1, n_materials, (n,), generator=g)
        colour = spectra[torch.arange(n), mat][:, :, None, None]
        img = img * (1 - mask[:, None]) + colour * (texture * mask)[:, None]
    for _ in range(3):  # thin lines (roads, field boundaries): one to two pixels wide
        theta = torch.rand(n, 1, 1, generator=g) * math.pi
        offset = torch.rand(n, 1, 1, generator=g) * 1.6 - 0.8
        dist = (xx * torch.cos(theta) + yy * torch.sin(theta) - offset).abs()
        line = (dist < (1.5 / size)).float()[:, None]
        colour = spectra[:, -1, :, None, None]
        img = img * (1 - line) + colour * line
    dots = (torch.rand(n, 1, size, size, generator=g) > 0.995).float()
    img = img * (1 - dots) + dots * spectra[:, 2, :, None, None]
    return img.clamp(0, 1)


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

    def __init__(self, bands: int = 4, hr_size: int = 64, scale: int = 4, batch_size: int = 8,
                 val_batch_size: int = 8, train_size: int = 512, val_size: int = 32, seed: int = 0,
                 num_workers: int = 0) -> None:
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
        return _shuffled_loader(self.train_set, self.seed, batch_size=self.batch_size, drop_last=True,
                                num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        assert self.val_set is not None, "call setup() first"
        # its own generator: validating never draws from the global RNG, so it cannot shift training
        return DataLoader(self.val_set, batch_size=self.val_batch_size, num_workers=self.num_workers,
                          generator=torch.Generator().manual_seed(self.seed + 2))

    def test_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        return self.val_dataloader()
