"""What a checkpoint holds beyond Lightning's own state: the ``checkpoint["gan_engine"]`` entry.

``format``, ``version``, ``config`` (the resolved config as a dict, so a checkpoint rebuilds
its model alone), ``iteration``, ``pending`` (micro-batches accumulated mid-iteration),
``nonfinite`` (the non-finite guard's counters) and ``rng`` (torch, numpy and python states,
restored just before the next iteration).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lightning.pytorch.utilities import rank_zero_warn

from gan_engine._version import __version__
from gan_engine.checkpoint import CHECKPOINT_FORMAT
from gan_engine.errors import CheckpointError
from gan_engine.training.micro_batch import MicroBatch
from gan_engine.training.nonfinite import NonFiniteGuard
from gan_engine.training.rng import capture_rng

if TYPE_CHECKING:
    import lightning as L

    from gan_engine.config import Config

__all__ = ["EngineState", "engine_state", "read_engine_state", "warn_if_loader_cannot_resume"]


def engine_state(cfg: Config, iteration: int, pending: Sequence[MicroBatch], nonfinite: NonFiniteGuard
                 ) -> dict[str, Any]:
    """The ``checkpoint["gan_engine"]`` entry: what a resumed run needs beyond Lightning's state."""
    return {
        "format": CHECKPOINT_FORMAT, "version": __version__, "config": cfg.to_dict(), "iteration": iteration,
        "pending": [{k: v.detach().cpu() for k, v in m.batch.items()} for m in pending],
        "nonfinite": nonfinite.state_dict(), "rng": capture_rng(),
    }


@dataclass(frozen=True)
class EngineState:
    """The ``checkpoint["gan_engine"]`` entry, read back.

    Attributes:
        iteration: completed iterations.
        pending: micro-batches accumulated mid-iteration.
        nonfinite: the non-finite guard's counters.
        rng: torch, numpy and python RNG states, restored just before the next iteration.
    """

    iteration: int
    pending: list[MicroBatch]
    nonfinite: dict[str, Any]
    rng: dict[str, Any] | None


def read_engine_state(checkpoint: Mapping[str, Any]) -> EngineState:
    """The engine's entry of a Lightning checkpoint; :class:`CheckpointError` when it has none."""
    state = checkpoint.get("gan_engine")
    if not isinstance(state, Mapping):
        raise CheckpointError("this checkpoint was not written by a gan_engine GANModule (it has no 'gan_engine' "
                              "entry); train with gan_engine, or load plain weights with "
                              "module.load_state_dict(torch.load(path, weights_only=True)['state_dict'])")
    return EngineState(int(state["iteration"]), [MicroBatch(dict(b)) for b in state.get("pending", [])],
                       dict(state.get("nonfinite", {})), state.get("rng"))


def _loaders(iterables: Any) -> list[Any]:
    if isinstance(iterables, Mapping):
        return [x for v in iterables.values() for x in _loaders(v)]
    if isinstance(iterables, (list, tuple)):
        return [x for v in iterables for x in _loaders(v)]
    return [] if iterables is None else [iterables]


def warn_if_loader_cannot_resume(trainer: L.Trainer) -> None:
    """On a mid-epoch resume, warn once when a training loader cannot restore its position.

    Lightning's own check counts optimizer steps, two per adversarial iteration here, so it
    misses most mid-epoch checkpoints; this one reads the restored batch position.
    """
    # ours replaces Lightning's (which would come later in this resume, when it fires at all)
    warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")
    current = trainer.fit_loop.epoch_loop.batch_progress.current
    done = int(getattr(current, "processed", current.completed))  # batches of this epoch already trained on
    if not 0 < done < trainer.num_training_batches:
        return
    plain = [type(dl).__name__ for dl in _loaders(trainer.train_dataloader)
             if not (callable(getattr(dl, "state_dict", None)) and callable(getattr(dl, "load_state_dict", None)))]
    if plain:
        epoch = trainer.current_epoch
        rank_zero_warn(
            f"resuming in the middle of epoch {epoch} (after batch {done} of {trainer.num_training_batches}), but the "
            f"training loader ({', '.join(plain)}) saves neither its position nor its order: the rest of the epoch "
            "is drawn afresh (some samples are seen twice this epoch, others not at all) and random augmentations "
            "drawn from the global generator differ, so the run does not continue bit for bit. For an exact resume "
            "return a torchdata StatefulDataLoader from train_dataloader(); gan_engine.data.seeded_loader(dataset, "
            "seed, batch_size=...) builds one with a seeded order.")
