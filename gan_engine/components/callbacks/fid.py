"""FID and KID at validation, computed by :class:`gan_engine.metrics.FID` and :class:`~gan_engine.metrics.KID`.

Add it to a run with ``Callbacks.extra_validation: [{name: fid_kid}]``. Each validation
image and the generator's output for it go through one feature network, by default
:class:`gan_engine.metrics.InceptionFeatures` (torchvision's ImageNet Inception-v3,
``inception_v3_google-0cc3c7bd.pth``, read from ``weights_path`` or the torch hub cache and
never downloaded). Images are denormalised first and mapped from ``[0, data_range]`` (the
module's ``data_range``) to the network's input; any band count works through band
triplets (``bands``). The features feed both metrics, whose states stay on the module's
device and are reduced across processes by torchmetrics, and ``val/fid`` and ``val/kid``
(the mean over subsets) are logged at the end of each validation.

When the weights are not on the machine the callback warns once, naming the file and how to
provide it, logs nothing and lets training go on. Scores compare gan_engine runs with each
other, not with published FIDs (see :mod:`gan_engine.metrics.perceptual`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn
from typing_extensions import override

from gan_engine.metrics.perceptual import FID, KID, InceptionFeatures
from gan_engine.nn.bands import BandSpec
from gan_engine.nn.pretrained import WeightsNotFoundError
from gan_engine.registry import callbacks

__all__ = ["FIDKID"]


class _Given(nn.Module):
    """The metrics' feature module: features already computed once per image by the callback."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features.flatten(1).double()


@callbacks.register("fid_kid")
class FIDKID(L.Callback):
    """Log ``val/fid`` and ``val/kid`` between the validation images and the generator's outputs.

    Args:
        weights_path: Inception-v3 weights file; default ``inception_v3_google-0cc3c7bd.pth``
            in the torch hub cache.
        bands: band triplets shown to Inception (see :func:`gan_engine.nn.band_triplets`);
            default: consecutive triplets covering every band (one band is repeated).
        resize: side images are resized to before Inception (299 as trained; at least 75).
        kid_subset_size: images per KID subset (reduced to the number of images seen).
        kid_subsets: number of KID subsets.
        kid_seed: seed of the KID subset draws (the global random state is left untouched).
        feature: your own feature module instead of Inception (then the four arguments
            above are unused): it maps the denormalised images ``(N, C, H, W)``, in data
            units, to ``(N, D)`` features and exposes ``num_features = D``.

    Raises:
        ValueError: ``kid_subset_size < 2``, ``kid_subsets < 1`` or a ``feature`` without ``num_features``.
    """

    #: Missing-weights messages already shown in this process (each is shown once).
    _warned: ClassVar[set[str]] = set()

    def __init__(self, weights_path: str | os.PathLike[str] | None = None, bands: BandSpec = None,
                 resize: int | None = 299, kid_subset_size: int = 100, kid_subsets: int = 50, kid_seed: int = 0,
                 feature: nn.Module | None = None) -> None:
        super().__init__()
        if kid_subset_size < 2 or kid_subsets < 1:
            raise ValueError(f"fid_kid needs kid_subset_size ≥ 2 and kid_subsets ≥ 1, got {kid_subset_size} and "
                             f"{kid_subsets}")
        if feature is not None and not isinstance(getattr(feature, "num_features", None), int):
            raise ValueError(f"fid_kid: the feature module {type(feature).__name__} must expose an integer "
                             "attribute num_features, the length D of the (N, D) features it returns")
        self.weights_path, self.bands, self.resize = weights_path, bands, resize
        self.kid_subset_size, self.kid_subsets, self.kid_seed = kid_subset_size, kid_subsets, kid_seed
        self.extractor: nn.Module | None = feature
        self.custom = feature is not None
        self.fid: FID | None = None
        self.kid: KID | None = None
        self.unavailable: str | None = None
        self.seen = 0

    @override
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.unavailable is not None:
            return
        input_range = (0.0, float(getattr(pl_module, "data_range", 1.0)))
        if isinstance(self.extractor, InceptionFeatures):  # a later stage may bring another data module
            self.extractor.input_range = input_range
        if self.fid is not None:
            return
        if self.extractor is None:
            try:
                self.extractor = InceptionFeatures(self.weights_path, self.bands, input_range, self.resize)
            except WeightsNotFoundError as exc:
                self.unavailable = str(exc)
                if self.unavailable not in FIDKID._warned:  # Lightning rebuilds config callbacks per stage
                    FIDKID._warned.add(self.unavailable)
                    rank_zero_warn(f"fid_kid: val/fid and val/kid are not computed, training goes on. {exc}",
                                   category=RuntimeWarning)
                return
        n = int(getattr(self.extractor, "num_features", InceptionFeatures.num_features))
        self.fid = FID(feature=_Given(n))
        with warnings.catch_warnings():  # KID keeps every feature vector: bounded by the validation set here
            warnings.filterwarnings("ignore", "Metric `Kernel Inception Distance` will save")
            self.kid = KID(feature=_Given(n), subset_size=self.kid_subset_size, subsets=self.kid_subsets)

    @override
    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.fid is None or self.kid is None or self.extractor is None:
            return
        for part in (self.extractor, self.fid, self.kid):
            part.to(pl_module.device)
        self.fid.reset()
        self.kid.reset()
        self.seen = 0

    @override
    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.fid is None or self.kid is None or self.extractor is None or trainer.sanity_checking \
                or not isinstance(outputs, Mapping) or "fake" not in outputs:
            return
        module: Any = pl_module
        real = module.task.real(module.denormalize_batch(outputs["batch"]))
        fake = module.denormalize(outputs["fake"], module.task.output_branch)
        with torch.no_grad():
            for images, is_real in ((real, True), (fake, False)):
                features = self.extractor(images.float())
                self.fid.update(features, real=is_real)
                self.kid.update(features, real=is_real)
        self.seen += real.shape[0]

    @override
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.fid is None or self.kid is None or trainer.sanity_checking:
            return
        seen = torch.tensor(self.seen, device=pl_module.device)
        total = int(trainer.strategy.reduce(seen, reduce_op="sum")) if trainer.world_size > 1 else self.seen
        if total < 2:  # a covariance needs two images
            return
        pl_module.log("val/fid", self.fid.compute().float(), sync_dist=True)
        self.kid.subset_size = min(self.kid_subset_size, total)
        with torch.random.fork_rng(devices=[]):  # KID draws its subsets from the global CPU generator
            torch.manual_seed(self.kid_seed)
            kid_mean, _ = self.kid.compute()
        pl_module.log("val/kid", kid_mean.float(), sync_dist=True)
