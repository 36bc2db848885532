"""A sensor model as a degradation: pixels integrate light, then shot and read noise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_engine.components.degradations import Degradation


class ExampleSensor(Degradation):
    """Box-average downsampling (a pixel's area), Poisson shot noise and Gaussian read noise.

    Args:
        scale: downsampling factor, filled in from ``Task.scale``.
        full_well: photons a pixel collects at the top of the value range; fewer is noisier.
        read_noise: standard deviation of the read-out noise, in data units.
    """

    def __init__(self, scale: int, full_well: float = 2000.0, read_noise: float = 0.005) -> None:
        super().__init__(scale)
        if full_well <= 0 or read_noise < 0:
            raise ValueError(f"example_sensor needs full_well > 0 and read_noise ≥ 0, got {full_well}, {read_noise}")
        self.full_well, self.read_noise = full_well, read_noise

    def sample_batch(self, n: int, bands: int, height: int, width: int, rng: torch.Generator | None = None,
                     device: torch.device | None = None) -> dict[str, Tensor]:
        # a per-sample seed: the noise itself is drawn on the device, at the LR size
        return {"seed": torch.randint(2**31 - 1, (n,), generator=rng, device=device)}

    def plan(self, params: Mapping[str, Any]) -> dict[str, Any]:
        # on the CPU, before the copy to the device: one Python seed per batch, no host sync later
        return {"noise_seed": int(params["seed"].long().sum()) % (2**31 - 1), "_planned": True}

    def degrade(self, hr: Tensor, params: Mapping[str, Any]) -> Tensor:
        lr = F.avg_pool2d(hr.float(), self.scale).clamp_min(0)
        g = torch.Generator(device=hr.device).manual_seed(params["noise_seed"])
        photons = torch.poisson(lr * self.full_well, generator=g)
        read = torch.randn(lr.shape, generator=g, device=lr.device) * self.read_noise
        return (photons / self.full_well + read).to(hr.dtype)
