"""FID and KID at validation, when Inception weights are available.

Add it to a run with ``Callbacks.extra_validation: [{name: fid_kid}]``. It needs
``torch-fidelity`` (``pip install torch-fidelity``) and its Inception-v3 weights, which are
downloaded once into the torch hub cache; without them the callback warns once and logs
nothing, and training goes on. Inception expects RGB images in [0, 1]: images are divided by
the run's data range, clipped, and reduced to three bands (``rgb_bands``; one band is
repeated). Both metrics are therefore only meaningful for natural-looking RGB data; for
other band counts, ``val/swd`` of the synthesis task needs no weights.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, cast

import lightning as L
import torch
from torch import Tensor, nn
from typing_extensions import override

from gan_engine.registry import callbacks

__all__ = ["FIDKID", "frechet_distance", "kid", "to_rgb"]


def to_rgb(x: Tensor, data_range: float, rgb_bands: Sequence[int] | None) -> Tensor:
    """``(N, C, H, W)`` data → ``(N, 3, H, W)`` in [0, 1] for an RGB feature extractor."""
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    else:
        x = x[:, list(rgb_bands) if rgb_bands is not None else [0, 1, 2]]
    return (x.float() / data_range).clamp(0, 1)


@callbacks.register("fid_kid")
class FIDKID(L.Callback):
    """Log ``val/fid`` and ``val/kid`` between the validation images and the generator's outputs.

    Args:
        feature: Inception feature layer (64, 192, 768 or 2048), or your own ``nn.Module``
            mapping ``(N, 3, H, W)`` images in [0, 1] to ``(N, D)`` features.
        kid_subset_size: images per KID subset (reduced to the number of images seen).
        kid_subsets: number of KID subsets.
        rgb_bands: band indices used as red, green, blue; default: the first three.
    """

    def __init__(self, feature: int | nn.Module = 2048, kid_subset_size: int = 100, kid_subsets: int = 50,
                 rgb_bands: list[int] | None = None) -> None:
        super().__init__()
        self.feature, self.rgb_bands = feature, rgb_bands
        self.kid_subset_size, self.kid_subsets = kid_subset_size, kid_subsets
        self.extractor: nn.Module | None = None
        self.real_features: list[Tensor] = []
        self.fake_features: list[Tensor] = []
        self.unavailable: str | None = None

    @override
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.extractor is not None or self.unavailable:
            return
        try:
            self.extractor = self._build_extractor()
        except Exception as exc:  # missing torch-fidelity, or weights that cannot be downloaded
            self.unavailable = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"fid_kid: FID and KID are skipped because the Inception feature extractor is not "
                          f"available ({self.unavailable}). Install torch-fidelity and let it download its "
                          "weights once, or pass your own feature module", RuntimeWarning, stacklevel=2)

    def _build_extractor(self) -> nn.Module:
        if isinstance(self.feature, nn.Module):
            return self.feature.eval()
        from torchmetrics.image.fid import NoTrainInceptionV3
        from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE

        if not _TORCH_FIDELITY_AVAILABLE:
            raise ModuleNotFoundError("torch-fidelity is not installed (pip install torch-fidelity)")
        inception = NoTrainInceptionV3(name="inception-v3-compat", features_list=[str(self.feature)])
        return _Bytes(inception)

    @override
    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.real_features, self.fake_features = [], []
        if self.extractor is not None:
            self.extractor.to(pl_module.device)

    @override
    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.extractor is None or trainer.sanity_checking or not isinstance(outputs, dict) or "fake" not in outputs:
            return
        module: Any = pl_module
        real = module.task.real(module.denormalize_batch(outputs["batch"]))
        fake = module.denormalize(outputs["fake"], module.task.output_branch)
        with torch.no_grad():
            for x, store in ((real, self.real_features), (fake, self.fake_features)):
                store.append(self.extractor(to_rgb(x, module.data_range, self.rgb_bands)).flatten(1).double())

    @override
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.real_features:
            return
        real, fake = torch.cat(self.real_features), torch.cat(self.fake_features)
        if trainer.world_size > 1:  # every process saw its own shard of the validation set
            real, fake = (cast(Tensor, pl_module.all_gather(x)).flatten(0, 1) for x in (real, fake))
        if min(len(real), len(fake)) < 2:
            return
        pl_module.log("val/fid", frechet_distance(real, fake).float())
        pl_module.log("val/kid", kid(real, fake, min(self.kid_subset_size, len(real), len(fake)),
                                     self.kid_subsets).float())


class _Bytes(nn.Module):
    """Feeds [0, 1] images to torch-fidelity's Inception, which expects bytes."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.inner((x * 255).round().to(torch.uint8))
        return out


def frechet_distance(real: Tensor, fake: Tensor) -> Tensor:
    r"""Fréchet distance between Gaussians fitted to two feature sets (FID when the features are Inception's).

    .. math:: \lVert \mu_r - \mu_f \rVert^2 + \operatorname{tr}\big(\Sigma_r + \Sigma_f
              - 2 (\Sigma_r \Sigma_f)^{1/2}\big)

    The trace of the matrix square root is the sum of the square roots of the eigenvalues of
    :math:`\Sigma_r \Sigma_f` (real and non-negative up to rounding).

    Args:
        real: ``(N, D)`` features.
        fake: ``(M, D)`` features.
    """
    mu_r, mu_f = real.mean(dim=0), fake.mean(dim=0)
    cov_r, cov_f = torch.cov(real.T), torch.cov(fake.T)
    eig = torch.linalg.eigvals(cov_r @ cov_f).real.clamp_min(0)
    return (mu_r - mu_f).square().sum() + cov_r.trace() + cov_f.trace() - 2 * eig.sqrt().sum()


def kid(real: Tensor, fake: Tensor, subset_size: int, subsets: int, seed: int = 0) -> Tensor:
    r"""Kernel Inception Distance: the unbiased MMD² with the cubic polynomial kernel, averaged over subsets.

    .. math:: k(x, y) = \big(\tfrac{1}{d} x^\top y + 1\big)^3

    Args:
        real: ``(N, D)`` features of real images.
        fake: ``(M, D)`` features of generated images.
        subset_size: images per subset (at least 2).
        subsets: number of random subsets.
        seed: seed of the subset draws.
    """
    g = torch.Generator().manual_seed(seed)
    d, m = real.shape[1], max(2, subset_size)
    values = []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=g)[:m].to(real.device)]
        y = fake[torch.randperm(len(fake), generator=g)[:m].to(fake.device)]
        kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        off = 1 - torch.eye(m, dtype=kxx.dtype, device=kxx.device)
        values.append((kxx * off).sum() / (m * (m - 1)) + (kyy * off).sum() / (m * (m - 1)) - 2 * kxy.mean())
    return torch.stack(values).mean()
