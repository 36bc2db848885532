"""Inpainting: an image with holes and the hole mask in, the completed image out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from gan_engine.components.tasks.base import Task, masked_term
from gan_engine.components.tasks.image_to_image import as_mapping
from gan_engine.errors import ShapeError
from gan_engine.metrics import psnr, ssim
from gan_engine.registry import tasks

__all__ = ["Inpainting", "masked_psnr"]


def masked_psnr(pred: Tensor, target: Tensor, mask: Tensor, data_range: float) -> Tensor:
    r"""PSNR over the masked pixels only, per image, averaged over the batch.

    .. math:: \mathrm{PSNR}_m = 10 \log_{10} \frac{R^2 \sum_p m_p}{\frac{1}{C}\sum_{p} m_p \|\hat y_p - y_p\|^2}

    Args:
        pred: ``(N, C, H, W)`` prediction.
        target: ``(N, C, H, W)`` reference.
        mask: ``(N, 1, H, W)`` weights, 1 on the pixels that count.
        data_range: span ``R`` of valid values.
    """
    se = ((pred.float() - target.float()) ** 2 * mask).flatten(1).sum(dim=1) / pred.shape[1]
    mse = se / mask.flatten(1).sum(dim=1).clamp_min(1.0)
    return (10.0 * torch.log10(data_range**2 / mse.clamp_min(1e-12))).mean()


@tasks.register("inpainting")
class Inpainting(Task):
    r"""Fill the holes of ``image`` ``(N, C, H, W)`` marked by ``mask`` ``(N, 1, H, W)`` (1 = hole).

    The generator sees the image with its holes zeroed, concatenated with the mask
    (``C + 1`` input channels) and predicts every pixel; the result is the *composite*:
    generated pixels in the holes, known pixels elsewhere. The discriminator judges the
    composite against the real image. Content losses are computed on the raw output,
    separately on the hole and on the known region, each as the mean of the loss's per-pixel
    terms over its own pixels (the region is the loss's per-pixel ``weight``):

    .. math:: \mathcal L = w_h \, \frac{\sum_p m_p \ell_p}{\sum_p m_p}
              + w_k \, \frac{\sum_p (1-m_p) \ell_p}{\sum_p (1-m_p)}

    A loss without ``supports_weight`` falls back to masking both images instead (see
    :func:`~gan_engine.components.tasks.base.masked_term`). Validation reports PSNR and mean
    absolute error on the hole (``psnr_hole``, ``l1_hole``) and PSNR/SSIM of the whole
    composite. The mask goes through the conditioning (``cond``) normalisation branch.

    Args:
        hole_weight: weight :math:`w_h` of the content losses on the hole.
        known_weight: weight :math:`w_k` of the content losses on the known pixels.
    """

    batch_keys: ClassVar[tuple[str, ...]] = ("image", "mask")
    branches: ClassVar[Mapping[str, str]] = {"image": "hr", "mask": "cond"}
    input_keys: ClassVar[tuple[str, ...]] = ("image", "mask")

    def __init__(self, hole_weight: float = 6.0, known_weight: float = 1.0) -> None:
        if hole_weight < 0 or known_weight < 0 or hole_weight + known_weight == 0:
            raise ValueError(f"hole_weight and known_weight must be ≥ 0 and not both 0, got {hole_weight}, "
                             f"{known_weight}")
        self.hole_weight, self.known_weight = hole_weight, known_weight
        self.scale = 1

    def generator_channels(self, bands: int) -> tuple[int, int]:
        return bands + 1, bands

    def prepare_batch(self, batch: Any) -> dict[str, Tensor]:
        out = as_mapping(batch, self.batch_keys, "inpainting")
        image, mask = out["image"], out["mask"]
        if mask.ndim == 3:
            mask = mask[:, None]
        if image.ndim != 4 or mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[-2:] != image.shape[-2:] \
                or mask.shape[0] != image.shape[0]:
            raise ShapeError("expected image (N, C, H, W) and mask (N, 1, H, W) with 1 on the holes; got image "
                             f"{tuple(image.shape)} and mask {tuple(out['mask'].shape)}")
        out["mask"] = mask.to(image.dtype)
        return out

    def prepare_inputs(self, batch: Any) -> dict[str, Tensor]:
        return self.prepare_batch(batch)  # the image (its holes are ignored) and the mask are the inputs

    def predict_output(self, fake: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        return self.compose(fake, batch)

    def generator_inputs(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, ...]:
        mask = batch["mask"]
        return (torch.cat([batch["image"] * (1 - mask), mask], dim=1),)

    def real(self, batch: Mapping[str, Tensor]) -> Tensor:
        return batch["image"]

    def compose(self, fake: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """Generated pixels in the holes, known pixels elsewhere."""
        mask = batch["mask"].to(fake.dtype)
        return fake * mask + batch["image"].to(fake.dtype) * (1 - mask)

    def discriminator_input(self, image: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """The composite: ``image`` in the holes, the known pixels elsewhere.

        A real image is its own composite, so real inputs are unchanged; for generated ones
        the discriminator judges exactly what a user gets. Gradients (the generator's, and
        the R1 penalty's) flow through the hole pixels, the only ones that differ between
        real and generated inputs.
        """
        return self.compose(image, batch)

    def content_loss(self, fake: Tensor, batch: Mapping[str, Tensor],
                     terms: Mapping[str, Callable[..., Tensor]]) -> dict[str, Tensor]:
        """Each content term on the hole and on the known pixels, each region averaged over its own pixels.

        The regions are passed to the losses as per-pixel weights (see
        :func:`gan_engine.components.tasks.base.masked_term`); a ``"valid"`` mask of the batch, when
        present, removes its no-data pixels from both.
        """
        mask, image = batch["mask"].to(fake.dtype), batch["image"].to(fake.dtype)
        hole, known = mask, 1 - mask
        valid = batch.get("valid")
        if valid is not None:
            hole, known = hole * valid.to(fake.dtype), known * valid.to(fake.dtype)
        out = {}
        for name, loss in terms.items():
            value = fake.new_zeros(())
            if self.hole_weight:
                value = value + self.hole_weight * masked_term(loss, fake, image, hole)
            if self.known_weight:
                value = value + self.known_weight * masked_term(loss, fake, image, known)
            out[name] = value
        return out

    def validation_metrics(self, fake: Tensor, batch: Mapping[str, Tensor], data_range: float) -> dict[str, Tensor]:
        """Hole PSNR and L1 (on the raw output), PSNR and SSIM of the composite."""
        image, mask = batch["image"], batch["mask"]
        composite = self.compose(fake, batch)
        hole_l1 = ((fake - image).abs() * mask).sum() / (mask.sum() * fake.shape[1]).clamp_min(1.0)
        return {"psnr_hole": masked_psnr(fake, image, mask, data_range), "l1_hole": hole_l1,
                "psnr": psnr(composite, image, data_range), "ssim": ssim(composite, image, data_range)}

    def panels(self, fake: Tensor, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Columns: masked input, mask, completed image (composite), target."""
        image, mask = batch["image"], batch["mask"]
        return {"Input (masked)": image * (1 - mask), "Mask": mask, "Output": self.compose(fake, batch),
                "Target": image}
