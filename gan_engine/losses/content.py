"""Pixel content losses: functional cores and their registered modules."""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from gan_engine.registry import losses

__all__ = ["L1Loss", "MSELoss"]


@losses.register("l1")
class L1Loss(nn.Module):
    r"""Mean absolute error :math:`\frac{1}{N}\sum |\hat y - y|`."""

    kind: ClassVar[str] = "content"

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(pred, target)


@losses.register("mse")
class MSELoss(nn.Module):
    r"""Mean squared error :math:`\frac{1}{N}\sum (\hat y - y)^2`."""

    kind: ClassVar[str] = "content"

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(pred, target)
