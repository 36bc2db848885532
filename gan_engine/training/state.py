"""What a checkpoint holds beyond Lightning's own state: the ``checkpoint["gan_engine"]`` entry.

``format``, ``version``, ``config`` (the resolved config as a dict, so a checkpoint rebuilds
its model alone), ``iteration``, ``pending`` (micro-batches accumulated mid-iteration),
``nonfinite`` (the non-finite guard's counters) and ``rng`` (torch, numpy and python states,
restored just before the next iteration).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gan_engine._version import __version__
from gan_engine.checkpoint import CHECKPOINT_FORMAT
from gan_engine.errors import CheckpointError
from gan_engine.training.phases import MicroBatch
from gan_engine.training.rng import capture_rng

if TYPE_CHECKING:
    from gan_engine.training.module import GANModule

__all__ = ["engine_state", "restore_engine_state"]


def engine_state(module: GANModule) -> dict[str, Any]:
    """The ``checkpoint["gan_engine"]`` entry of ``module``."""
    return {
        "format": CHECKPOINT_FORMAT, "version": __version__, "config": module.cfg.to_dict(),
        "iteration": module.iteration,
        "pending": [{k: v.detach().cpu() for k, v in m.batch.items()} for m in module._pending],
        "nonfinite": module.nonfinite.state_dict(), "rng": capture_rng(),
    }


def restore_engine_state(module: GANModule, checkpoint: Mapping[str, Any]) -> None:
    """Restore the counter, pending micro-batches and guard; keep the RNG states for the next iteration."""
    state = checkpoint.get("gan_engine")
    if not isinstance(state, Mapping):
        raise CheckpointError("this checkpoint was not written by a gan_engine GANModule (it has no 'gan_engine' "
                              "entry); train with gan_engine, or load plain weights with "
                              "module.load_state_dict(torch.load(path, weights_only=True)['state_dict'])")
    module.iteration = int(state["iteration"])
    module._pending = [MicroBatch(dict(b)) for b in state.get("pending", [])]
    module.nonfinite.load_state_dict(state.get("nonfinite", {}))
    module._rng_to_restore = state.get("rng")
