r"""Exponential moving average of the generator's weights.

After each iteration that updated the generator, every shadow parameter moves towards
the live one: :math:`s \leftarrow d\, s + (1 - d)\, \theta`. Buffers (batch-norm
statistics) are not averaged: the averaged model uses the live buffers. With :math:`n` the
number of averaging updates done before this one, the decay :math:`d` is

- ``none``: the fixed ``decay``;
- ``inverse``: :math:`\min(\text{decay}, (1 + n) / (10 + n))`;
- ``power``: :math:`\min(\text{decay}, 1 - (1 + n)^{-\text{power}})`;
- ``half_life``: :math:`0.5^{B / H}` with :math:`B` the images of the iteration (all
  processes) and :math:`H` = ``half_life_images``, so the weight of a past iteration
  halves every :math:`H` images whatever the batch size.

Until the iteration counter passes ``update_after_step`` the shadows copy the live
weights. Validation, test and predict run with the averaged weights swapped in, and the
live weights are restored bit-exactly afterwards. The shadows follow the generator's
device (they are never moved to a device string saved in a checkpoint), are saved in the
checkpoint as CPU tensors, and are re-seeded from the loaded weights when a checkpoint has
no average.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn
from typing_extensions import override

from gan_engine.checkpoint import EMA_STATE_KIND as STATE_KIND
from gan_engine.registry import callbacks

__all__ = ["EMA", "STATE_KIND", "decay_at"]

WARMUPS = ("none", "inverse", "power", "half_life")


def decay_at(n: int, *, decay: float, warmup: str, power: float = 0.75, half_life_images: float = 10000.0,
             images: int = 1) -> float:
    """The decay of averaging update ``n`` (0-based); see the module docstring."""
    if warmup == "inverse":
        return min(decay, (1.0 + n) / (10.0 + n))
    if warmup == "power":
        return min(decay, 1.0 - (1.0 + n) ** -power)
    if warmup == "half_life":
        return float(0.5 ** (images / half_life_images))
    return decay


@callbacks.register("ema")
class EMA(Callback):
    """Keep an exponential moving average of ``pl_module.generator`` (see the module docstring).

    Args:
        decay: decay once the warm-up is over, in [0, 1].
        update_after_step: the average starts after this many iterations.
        warmup: ``none``, ``inverse``, ``power`` or ``half_life``.
        power: exponent of the ``power`` warm-up.
        half_life_images: half-life of the ``half_life`` rule, in training images.
        attribute: the module attribute holding the averaged network.
    """

    def __init__(self, decay: float = 0.999, update_after_step: int = 0, warmup: str = "inverse",
                 power: float = 0.75, half_life_images: float = 10000.0, attribute: str = "generator") -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        if warmup not in WARMUPS:
            raise ValueError(f"unknown EMA warm-up {warmup!r}; expected one of {', '.join(WARMUPS)}")
        self.decay, self.update_after_step, self.warmup = decay, update_after_step, warmup
        self.power, self.half_life_images, self.attribute = power, half_life_images, attribute
        self._state_key = self._generate_state_key(attribute=attribute)
        self.num_updates = 0
        self._shadow: dict[str, Tensor] | None = None
        self._loaded: dict[str, Tensor] | None = None
        self._backup: list[Tensor] | None = None

    @property
    def state_key(self) -> str:
        return self._state_key  # made once: Lightning reads it around every hook call

    def should_update(self, iteration: int) -> bool:
        """Whether the average moves after completed iteration ``iteration`` (1-based)."""
        return iteration > self.update_after_step

    def _params(self, pl_module: L.LightningModule, reshard: bool = False) -> list[tuple[str, nn.Parameter]]:
        net = getattr(pl_module, self.attribute)
        if reshard and type(net).__name__.startswith("FSDP"):  # FSDP2: the shards, not a gathered copy
            from gan_engine.training.sharding import reshard as to_shards

            to_shards(net)
        return [(k, p) for k, p in net.named_parameters() if p.dtype.is_floating_point]

    def shadow(self, pl_module: L.LightningModule) -> dict[str, Tensor]:
        """The averaged parameters, on the network's device (seeded from it when missing)."""
        params = self._params(pl_module)
        if self._shadow is None:
            source = self._loaded or {k: p.detach() for k, p in params}
            missing = sorted({k for k, _ in params} - set(source))
            if missing:
                raise KeyError(f"the saved EMA state lacks parameters {missing[:5]}; the checkpoint's generator "
                               "differs from this one")
            self._shadow = {k: _like(source[k].detach(), p) for k, p in params}
            self._loaded = None
        elif params and next(iter(self._shadow.values())).device != params[0][1].device:
            self._shadow = {k: v.to(params[0][1].device) for k, v in self._shadow.items()}
        return self._shadow

    @torch.no_grad()
    def update(self, pl_module: L.LightningModule, iteration: int, images: int = 1) -> None:
        """Move the average after completed iteration ``iteration`` (or copy the weights before it starts)."""
        shadow = self.shadow(pl_module)
        params = _local([p.detach() for _, p in self._params(pl_module)])
        targets = _local([shadow[k] for k, _ in self._params(pl_module)])
        if not self.should_update(iteration):
            torch._foreach_copy_(targets, params)
            return
        d = decay_at(self.num_updates, decay=self.decay, warmup=self.warmup, power=self.power,
                     half_life_images=self.half_life_images, images=images)
        torch._foreach_lerp_(targets, params, 1.0 - d)
        self.num_updates += 1

    @torch.no_grad()
    def swap_in(self, pl_module: L.LightningModule) -> None:
        """Put the averaged weights into the network (a second call does nothing)."""
        if self._backup is not None:
            return
        shadow = self.shadow(pl_module)
        params = self._params(pl_module, reshard=True)
        self._backup = [p.detach().clone() for _, p in params]
        torch._foreach_copy_(_local([p.detach() for _, p in params]), _local([shadow[k] for k, _ in params]))

    @torch.no_grad()
    def swap_out(self, pl_module: L.LightningModule) -> None:
        """Restore the live weights exactly (a call without :meth:`swap_in` does nothing)."""
        if self._backup is None:
            return
        torch._foreach_copy_(_local([p.detach() for _, p in self._params(pl_module, reshard=True)]),
                             _local(self._backup))
        self._backup = None

    # -- hooks ------------------------------------------------------------------------
    @override
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.shadow(pl_module)  # the average starts from the weights training starts from (or the loaded ones)

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if isinstance(outputs, Mapping) and outputs.get("generator_step"):
            self.update(pl_module, int(outputs["iteration"]), int(outputs.get("images", 1)))

    @override
    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.swap_in(pl_module)

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.swap_out(pl_module)

    @override
    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.swap_in(pl_module)

    @override
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.swap_out(pl_module)

    @override
    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.swap_in(pl_module)

    @override
    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.swap_out(pl_module)

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.swap_out(pl_module)

    @override
    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # Runs before load_state_dict, which only runs when the checkpoint has this callback's
        # state: forgetting the shadows here re-seeds them from the loaded weights otherwise.
        self._shadow, self._loaded, self._backup = None, None, None

    @override
    def state_dict(self) -> dict[str, Any]:
        shadow = self._shadow if self._shadow is not None else self._loaded
        return {"kind": STATE_KIND, "num_updates": self.num_updates, "decay": self.decay, "warmup": self.warmup,
                "shadow": None if shadow is None else {k: _whole(v).detach().cpu().clone() for k, v in shadow.items()}}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.num_updates = int(state_dict.get("num_updates", 0))
        shadow = state_dict.get("shadow")
        self._shadow, self._backup = None, None
        self._loaded = None if shadow is None else {k: v.detach().cpu() for k, v in shadow.items()}


def _like(value: Tensor, param: Tensor) -> Tensor:
    """A copy of ``value`` on ``param``'s device and dtype, sharded like it under FSDP (``value`` may be whole)."""
    if type(param).__name__ == "DTensor":  # FSDP2: the average is sharded like the network
        from gan_engine.training.sharding import is_sharded, shard_like

        return value.clone() if is_sharded(value) else shard_like(value, param)
    return value.to(param.device, param.dtype, copy=True)


def _whole(value: Tensor) -> Tensor:
    """``value``, or the gathered tensor of a sharded one (every rank saves a checkpoint's states together)."""
    from gan_engine.training.sharding import full_tensor

    return full_tensor(value)


def _local(tensors: list[Tensor]) -> list[Tensor]:
    """The tensors, or their local shards under FSDP (the average is sharded like the network, so they align)."""
    if tensors and type(tensors[0]).__name__ == "DTensor":
        return [t.to_local() for t in tensors]  # type: ignore[attr-defined]
    return tensors
