"""Speed switches of ``Training``: compiled networks for the training phases, TF32 matmuls.

Each is off by default and changes how the same computation runs, not what it computes:

- ``Training.compile``: :class:`TrainingNetworks` hands the phases ``torch.compile`` d copies
  of the generator and the discriminator. The module keeps the eager networks as its
  submodules, so checkpoints, EMA, validation and export never see a compiled wrapper. A
  penalty that back-propagates through an input gradient (R1, WGAN-GP: a double backward,
  which compiled graphs do not support) runs on the eager discriminator; every other forward
  of the phases is compiled.
- ``Training.fast_matmul``: :func:`fast_matmul` allows TF32 for float32 matmuls and
  convolutions on CUDA for the duration of a fit (a process-wide setting of PyTorch, put back
  afterwards).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gan_engine.config.schema import CompileConfig

__all__ = ["TrainingNetworks", "compile_network", "fast_matmul"]


def compile_network(network: nn.Module, cfg: CompileConfig) -> Callable[..., Any]:
    """``torch.compile(network)`` as ``Training.compile`` says; the network itself is unchanged."""
    return torch.compile(network, mode=cfg.mode, backend=cfg.backend, dynamic=cfg.dynamic,  # type: ignore[no-any-return]
                         fullgraph=cfg.fullgraph)


@dataclass(frozen=True)
class TrainingNetworks:
    """The callables the training phases run: compiled or eager.

    Attributes:
        generator, discriminator: what the phases call.
        penalized_discriminator: the discriminator of a phase whose loss differentiates an input
            gradient (R1, gradient penalty): always the eager one.
    """

    generator: Callable[..., Any]
    discriminator: Callable[..., Any]
    penalized_discriminator: Callable[..., Any]

    @classmethod
    def build(cls, generator: nn.Module, discriminator: nn.Module, cfg: CompileConfig) -> TrainingNetworks:
        if not cfg.enabled:
            return cls(generator, discriminator, discriminator)
        return cls(compile_network(generator, cfg), compile_network(discriminator, cfg), discriminator)


@contextmanager
def fast_matmul(enabled: bool, device: torch.device) -> Iterator[None]:
    """Within the block, float32 matmuls and cuDNN convolutions may use TF32 on a CUDA ``device``.

    Does nothing when ``enabled`` is false or the device is not CUDA; the previous settings
    are restored on exit.
    """
    if not enabled or device.type != "cuda":
        yield
        return
    precision, cudnn = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(precision)
        torch.backends.cudnn.allow_tf32 = cudnn
