"""FSDP for a GAN: each network sharded on its own with FSDP2 (``fully_shard``), under Lightning's
``ModelParallelStrategy``.

Why FSDP2 and each network apart: a GAN iteration runs phases that back-propagate through one
network at a time while the other one is frozen. Sharding the generator and the discriminator
as separate FSDP units (``fully_shard(generator)``, ``fully_shard(discriminator)``, optionally
their large blocks first) lets each phase gather only what it runs. Parameters are resharded
after every forward, so the ``requires_grad`` changes of ``toggle_optimizer`` reach every
gather (with ``sharding: grad_op`` they stay gathered until the backward, which reshards them;
the next gather syncs ``requires_grad`` again). A phase whose loss differentiates an input
gradient (R1, WGAN-GP: a double backward) keeps the discriminator gathered from its first forward to its last backward
(:func:`gathered`), because the second backward still reads the parameters the first one would
have freed.

Lightning's FSDP1 strategy (``FSDPStrategy``) wraps the LightningModule as one root whose
forward never ends during a manual-optimisation step, so it cannot save a checkpoint there; the
module refuses it with the strategy to use instead. DeepSpeed under Lightning takes a single
optimizer, and a GAN has two: :func:`deepspeed_issue` says so before anything starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from torch import Tensor, nn

from gan_engine.config.schema import FSDPConfig

__all__ = ["DEEPSPEED_UNSUPPORTED", "full_tensor", "gathered", "is_sharded", "reshard", "shard_like", "shard_network"]

DEEPSPEED_UNSUPPORTED = (
    "Lightning's DeepSpeed strategy supports a single optimizer, and a GAN trains two (the generator's and the "
    "discriminator's), so gan_engine cannot run on it. To shard a model that does not fit one device, use "
    "strategy 'fsdp' (Training.fsdp sets the wrapping and CPU offload); for data parallelism use 'ddp'.")


def is_sharded(x: Any) -> bool:
    """Whether ``x`` is a ``DTensor`` (a sharded parameter, gradient or copy of one)."""
    from torch.distributed.tensor import DTensor

    return isinstance(x, DTensor)


def full_tensor(x: Tensor) -> Tensor:
    """The whole tensor: ``x`` itself, or a ``DTensor``'s gathered value (a collective: every rank calls it)."""
    return x.full_tensor() if is_sharded(x) else x  # type: ignore[attr-defined, no-any-return]


def shard_like(value: Tensor, reference: Tensor) -> Tensor:
    """``value`` (a whole tensor) laid out like ``reference``: sharded the same way when it is a ``DTensor``."""
    if not is_sharded(reference):
        return value.to(reference.device, reference.dtype)
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(value.to(reference.device, reference.dtype), reference.device_mesh,  # type: ignore[attr-defined]
                             reference.placements)  # type: ignore[attr-defined]


def shard_network(network: nn.Module, mesh: Any, cfg: FSDPConfig) -> None:
    """Shard ``network`` in place with ``fully_shard``: its large blocks first (``auto_wrap: blocks``), then itself.

    With ``blocks``, every sub-module whose parameters not yet in a unit number at least
    ``cfg.min_num_params`` becomes its own unit, deepest first (the size-based policy of FSDP1).
    """
    from torch.distributed.fsdp import CPUOffloadPolicy, OffloadPolicy, fully_shard

    kwargs: dict[str, Any] = {"mesh": mesh, "reshard_after_forward": cfg.sharding == "full",
                              "offload_policy": CPUOffloadPolicy() if cfg.cpu_offload else OffloadPolicy()}
    if cfg.auto_wrap == "blocks":
        for block in _blocks(network, cfg.min_num_params):
            fully_shard(block, **kwargs)
    fully_shard(network, **kwargs)


def _blocks(network: nn.Module, min_num_params: int) -> list[nn.Module]:
    chosen: list[nn.Module] = []

    def visit(module: nn.Module) -> int:  # parameters of the subtree not yet in a chosen block
        free = sum(visit(child) for child in module.children()) + sum(p.numel() for p in module.parameters(False))
        if module is not network and free >= min_num_params:
            chosen.append(module)
            return 0
        return free

    visit(network)
    return chosen


def reshard(network: nn.Module) -> None:
    """Put a sharded network (and each of its blocks) back in its shards, freeing gathered parameters.

    A forward with no backward (validation under ``sharding: grad_op``) leaves them gathered;
    code that reads or writes the parameters themselves (the EMA swap) calls this first. Does
    nothing for a network that is not sharded or is sharded already.
    """
    from torch.distributed.fsdp import FSDPModule

    if isinstance(network, FSDPModule):
        for unit in network.modules():
            if isinstance(unit, FSDPModule):
                unit.reshard()


@contextmanager
def gathered(network: Any, enabled: bool = True, reshard_after_forward: bool = True) -> Iterator[None]:
    """Keep an FSDP2 ``network`` gathered for the block (forward and backward reshard nothing), then reshard.

    Does nothing for a network that is not sharded, or when ``enabled`` is false. Afterwards the
    network reshards after backward again, and after forward as ``reshard_after_forward`` says
    (its setting from :func:`shard_network`).
    """
    from torch.distributed.fsdp import FSDPModule

    if not enabled or not isinstance(network, FSDPModule):
        yield
        return
    network.set_reshard_after_forward(False)
    network.set_reshard_after_backward(False)
    network.unshard()
    try:
        yield
    finally:
        reshard(cast(nn.Module, network))
        network.set_reshard_after_forward(reshard_after_forward)
        network.set_reshard_after_backward(True)
