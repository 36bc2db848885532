"""A Huber content loss, as a plugin would ship one."""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn


class ExampleHuber(nn.Module):
    """Huber loss: quadratic below ``delta``, linear above.

    Args:
        delta: the switch point between the quadratic and the linear part.
    """

    kind: ClassVar[str] = "content"

    def __init__(self, delta: float = 0.1) -> None:
        super().__init__()
        self.delta = delta

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(pred, target, delta=self.delta)
