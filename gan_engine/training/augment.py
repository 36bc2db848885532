r"""Differentiable augmentation of the discriminator's inputs, with an adaptive probability.

A discriminator trained on few images memorises them: its outputs on real images drift to
"certainly real", and its gradients stop teaching the generator anything. Augmenting every
image the discriminator sees, real and generated alike, with transformations that are
differentiable (so the generator's gradient flows back through them), keeps it from
memorising without leaking the augmentations into the generated images (DiffAugment,
Zhao et al. 2020; StyleGAN2-ADA, Karras et al. 2020).

:class:`DiscriminatorAugment` applies a policy of ``flip``, ``rotate90``, ``translation``,
``color`` and ``cutout`` (in that order), each to a sample with probability ``p``. The
inputs of one call (the real and the generated batch of a phase) get the same random
transformation sample by sample, so paired images stay paired. ``color`` works for any
band count: brightness shifts every band, saturation scales each pixel's distance to its
band mean (nothing for one band), contrast scales the distance to the image mean.
Geometric transformations move every channel the discriminator sees, a task's condition
channels included; ``color`` changes them too.

With ``adaptive``, ``p`` follows the overfitting heuristic
:math:`r_t = \mathbb E[\operatorname{sign} D(x_{real})]`: every ``interval`` iterations
:math:`p \leftarrow \operatorname{clip}(p + \operatorname{sign}(r_t - \text{target}) \cdot
\text{images} / \text{speed\_images}, 0, 1)`. Everything stays on the device (no host
sync); ``p`` and the running sums are buffers, so checkpoints store them and a resumed run
continues with the ``p`` it had.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from gan_engine.errors import ShapeError

__all__ = ["POLICIES", "DiscriminatorAugment"]

Policy = Literal["translation", "cutout", "color", "flip", "rotate90"]
#: Every augmentation, in the order they are applied.
POLICIES: tuple[Policy, ...] = ("flip", "rotate90", "translation", "color", "cutout")


class DiscriminatorAugment(nn.Module):
    """Augment discriminator inputs; see the module docstring.

    Args:
        policy: augmentations to use, from :data:`POLICIES`.
        p: probability that each augmentation is applied to a sample; the start value when
            adaptive.
        adaptive: steer ``p`` toward ``target`` (ADA).
        target: the wanted mean sign of the discriminator's outputs on real images.
        interval: iterations between two adjustments of ``p``.
        speed_images: training images over which ``p`` can move from 0 to 1.
        translation: largest shift, as a fraction of the image side.
        cutout: side of the zeroed square, as a fraction of the image side.
    """

    p: Tensor  #: the probability of each augmentation (a buffer)
    signs: Tensor  #: ADA's running sums: mean signs of D(real), observations (a buffer)

    def __init__(self, policy: Sequence[Policy], p: float = 1.0, adaptive: bool = False, target: float = 0.6,
                 interval: int = 4, speed_images: int = 500_000, translation: float = 0.125,
                 cutout: float = 0.5) -> None:
        super().__init__()
        unknown = sorted(set(policy) - set(POLICIES))
        if unknown:
            raise ValueError(f"unknown augmentation(s) {unknown}; choose from {list(POLICIES)}")
        self.policy = tuple(name for name in POLICIES if name in policy)
        self.adaptive, self.target, self.interval = adaptive, target, interval
        self.speed_images, self.translation, self.cutout = speed_images, translation, cutout
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("signs", torch.zeros(2))  # sum of mean signs, number of observations

    def extra_repr(self) -> str:
        return f"policy={list(self.policy)}, adaptive={self.adaptive}"

    # -- the augmentation --------------------------------------------------------------
    def forward(self, *images: Tensor) -> tuple[Tensor, ...]:
        """The same random augmentation of each ``(N, C, H, W)`` batch in ``images``."""
        if not images:
            return ()
        first = images[0]
        if any(x.shape != first.shape for x in images):
            raise ShapeError(f"discriminator augmentation: the batches of one call must have one shape, got "
                             f"{[tuple(x.shape) for x in images]}")
        n, _, h, w = first.shape
        dev, p = first.device, self.p.to(first.device)

        def chosen() -> Tensor:  # (N,) bool: which samples this augmentation touches
            return torch.rand(n, device=dev) < p

        out = list(images)
        if "flip" in self.policy:
            m = chosen()[:, None, None, None]
            out = [torch.where(m, x.flip(-1), x) for x in out]
        if "rotate90" in self.policy:
            if h != w:
                raise ShapeError(f"the rotate90 augmentation needs square discriminator inputs, got {h}×{w}; "
                                 "remove it from Training.d_augment.policy or use square crops")
            k = (torch.randint(1, 4, (n,), device=dev) * chosen())[:, None, None, None]
            out = [torch.where(k == 1, x.rot90(1, (-2, -1)),
                               torch.where(k == 2, x.rot90(2, (-2, -1)),
                                           torch.where(k == 3, x.rot90(3, (-2, -1)), x))) for x in out]
        if "translation" in self.policy:
            out = self._translate(out, chosen())
        if "color" in self.policy:
            out = self._color(out, chosen, n, dev)
        if "cutout" in self.policy:
            out = self._cutout(out, chosen())
        return tuple(out)

    def _translate(self, images: list[Tensor], on: Tensor) -> list[Tensor]:
        n, _, h, w = images[0].shape
        dev = images[0].device
        limit = torch.tensor([int(h * self.translation + 0.5), int(w * self.translation + 0.5)], device=dev)
        shift = ((torch.rand(n, 2, device=dev) * (2 * limit + 1)).floor().long() - limit) * on[:, None]
        rows = torch.arange(h, device=dev)[None] - shift[:, :1]  # (N, H) source row of each row
        cols = torch.arange(w, device=dev)[None] - shift[:, 1:]
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        b = torch.arange(n, device=dev)[:, None, None]
        r, c = rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]
        keep = inside[:, None].to(images[0].dtype)
        return [x.permute(0, 2, 3, 1)[b, r, c].permute(0, 3, 1, 2) * keep for x in images]

    def _color(self, images: list[Tensor], chosen: Callable[[], Tensor], n: int, dev: torch.device) -> list[Tensor]:
        dtype = images[0].dtype
        brightness = ((torch.rand(n, device=dev) - 0.5) * chosen()).to(dtype)[:, None, None, None]
        saturation = torch.where(chosen(), torch.rand(n, device=dev) * 2, 1.0).to(dtype)[:, None, None, None]
        contrast = torch.where(chosen(), torch.rand(n, device=dev) + 0.5, 1.0).to(dtype)[:, None, None, None]
        out = []
        for x in images:
            x = x + brightness
            bands = x.mean(dim=1, keepdim=True)
            x = (x - bands) * saturation + bands
            whole = x.mean(dim=(1, 2, 3), keepdim=True)
            out.append((x - whole) * contrast + whole)
        return out

    def _cutout(self, images: list[Tensor], on: Tensor) -> list[Tensor]:
        n, _, h, w = images[0].shape
        dev = images[0].device
        ch, cw = max(1, int(h * self.cutout + 0.5)), max(1, int(w * self.cutout + 0.5))
        cy = (torch.rand(n, device=dev) * (h + 1 - ch % 2)).long()[:, None]
        cx = (torch.rand(n, device=dev) * (w + 1 - cw % 2)).long()[:, None]
        ys, xs = torch.arange(h, device=dev)[None], torch.arange(w, device=dev)[None]
        inside_y = (ys >= cy - ch // 2) & (ys < cy - ch // 2 + ch)
        inside_x = (xs >= cx - cw // 2) & (xs < cx - cw // 2 + cw)
        hole = inside_y[:, :, None] & inside_x[:, None, :] & on[:, None, None]
        keep = (~hole)[:, None].to(images[0].dtype)
        return [x * keep for x in images]

    # -- the adaptive probability ------------------------------------------------------
    def observe(self, real_scores: Tensor) -> None:
        """Accumulate the mean sign of the discriminator's outputs on (augmented) real images."""
        if self.adaptive:
            stat = torch.stack([real_scores.detach().float().sign().mean(), torch.ones((), device=self.p.device)])
            self.signs.add_(stat.to(self.signs.device))

    def adjust(self, images: int, totals: Tensor | None = None) -> None:
        """Move ``p`` by ``images / speed_images`` toward the target; reset the sums.

        Args:
            images: training images seen since the last adjustment (all processes).
            totals: the sums of all processes (an all-reduce of :attr:`signs`); default: this
                process's own.
        """
        if not self.adaptive:
            return
        sums = self.signs if totals is None else totals
        rt = sums[0] / sums[1].clamp_min(1)
        step = torch.sign(rt - self.target) * (images / self.speed_images) * (sums[1] > 0)
        self.p.copy_((self.p + step).clamp(0.0, 1.0))
        self.signs.zero_()

    @property
    def overfitting(self) -> Tensor:
        """The running heuristic ``r_t`` (a device tensor; nan before the first observation)."""
        return self.signs[0] / self.signs[1]
