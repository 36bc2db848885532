"""Fit the normalisers that estimate statistics (z-score, percentile) from the training data.

A normaliser built without its statistics reports ``is_fitted = False``. At the start of a
fit (``GANModule.on_fit_start``, before the sanity validation) every such normaliser that
some batch key feeds (the task's ``branches``) is fitted on the first batches of the
training loader, as training sees them: after the data module's batch-transfer hooks
(e.g. on-device degradation) and the task's ``prepare_batch``. Process 0 reads the data and
fits; the others receive its statistics, so every process normalises alike. The global
random state is left as it was.

The statistics are buffers: checkpoints hold them, a resumed run loads them before
``on_fit_start`` and is not refitted, and :func:`gan_engine.inference.load_normalizers`
restores them for inference.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any, cast

import lightning as L
import torch
from torch import Tensor, nn

from gan_engine.components.normalizers.base import Normalizer
from gan_engine.components.tasks.base import Task
from gan_engine.errors import GanEngineError

__all__ = ["FIT_BATCHES", "fit_normalizers", "unfitted_branches"]

#: Training batches the statistics are estimated from.
FIT_BATCHES = 32


def unfitted_branches(normalizers: Mapping[str, nn.Module], branches: Mapping[str, str]) -> dict[str, list[str]]:
    """``{branch: [batch keys]}`` of the normalisers that need statistics and that some batch key feeds.

    Args:
        normalizers: the normaliser of each branch (``lr``, ``hr``, ``cond``).
        branches: the task's batch key → branch mapping.
    """
    out: dict[str, list[str]] = {}
    for key, branch in branches.items():
        if not getattr(normalizers[branch], "is_fitted", True):
            out.setdefault(branch, []).append(key)
    return out


def _training_loader(trainer: L.Trainer) -> Iterable[Any]:
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is not None:
        loader: Iterable[Any] = datamodule.train_dataloader()
        return loader
    # dataloaders given to Trainer.fit directly; trainer.train_dataloader is only set once the fit loop runs
    source: Iterable[Any] = trainer.fit_loop._data_source.dataloader()
    return source


def _collect(module: L.LightningModule, task: Task, keys: Iterable[str], max_batches: int) -> dict[str, list[Tensor]]:
    """The tensors of ``keys`` in the first ``max_batches`` training batches, on the CPU."""
    wanted = set(keys)
    out: dict[str, list[Tensor]] = {k: [] for k in wanted}
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # reading the data draws no training randomness
        for raw in itertools.islice(_training_loader(module.trainer), max_batches):
            # Lightning's own transfer path (private helpers): the data module's hooks may build branches
            raw = module._on_before_batch_transfer(raw)
            batch = task.prepare_batch(module._apply_batch_transfer_handler(raw, module.device))
            for key in wanted & batch.keys():
                out[key].append(batch[key].detach().cpu())
    return out


def fit_normalizers(module: L.LightningModule, normalizers: nn.ModuleDict, task: Task,
                    max_batches: int = FIT_BATCHES) -> list[str]:
    """Fit every unfitted normaliser fed by a batch key, on process 0, and share its state.

    Args:
        module: the LightningModule being fitted (attached to its Trainer).
        normalizers: the normaliser of each branch; fitted in place.
        task: the task, for ``branches`` and ``prepare_batch``.
        max_batches: training batches read.

    Returns:
        The branches fitted.

    Raises:
        GanEngineError: fitting failed on process 0 (e.g. the training loader yields none of a
            branch's tensors); every process raises it.
    """
    by_branch = cast(dict[str, Normalizer], dict(normalizers.items()))
    todo = unfitted_branches(by_branch, task.branches)
    if not todo:
        return []
    payload: tuple[dict[str, dict[str, Tensor]], str | None] = ({}, None)
    if module.trainer.is_global_zero:
        try:
            payload = (_fit_here(module, by_branch, task, todo, max_batches), None)
        except Exception as exc:
            if module.trainer.world_size == 1:
                raise
            payload = ({}, f"{type(exc).__name__}: {exc}")
    # the other processes wait here for the statistics, or for the error
    states, error = module.trainer.strategy.broadcast(payload, src=0)
    if error is not None:
        raise GanEngineError(f"fitting the normalisers on the training data failed: {error}")
    for branch, state in states.items():
        normalizers[branch].load_state_dict(state)
        normalizers[branch].to(module.device)
    return list(todo)


def _fit_here(module: L.LightningModule, normalizers: Mapping[str, Normalizer], task: Task,
              todo: Mapping[str, list[str]], max_batches: int) -> dict[str, dict[str, Tensor]]:
    """Fit the branches of ``todo`` in this process; their states, on the CPU."""
    data = _collect(module, task, itertools.chain.from_iterable(todo.values()), max_batches)
    states = {}
    for branch, keys in todo.items():
        tensors = [t for k in keys for t in data[k]]
        norm = normalizers[branch]
        if not tensors:
            raise GanEngineError(
                f"the {branch!r} normaliser {type(norm).__name__} needs statistics, but the training loader gave "
                f"no {' or '.join(map(repr, keys))} tensors to estimate them from; give the statistics in its "
                "Normalization parameters, or check the training data")
        norm.fit(tensors)
        states[branch] = {k: v.detach().cpu() for k, v in norm.state_dict().items()}
    return states
