"""Training loaders that resume mid-epoch exactly: seeded order, per-sample randomness, saved position.

Exact resume needs three things of a training loader, and the built-in data modules get all
three from :func:`seeded_loader`:

1. **Its own order.** :class:`SeededSampler` draws epoch ``e``'s permutation from a generator
   seeded by ``(seed, e)``, never from the global RNG, so the order does not depend on what
   else drew random numbers before.
2. **Randomness per sample, not per process.** The sampler yields :class:`SampleKey` indices:
   plain ``int`` values that also carry the epoch and a seed, :func:`sample_seed`
   ``(seed, epoch, index)``. A data set that wants random crops, flips or degradations seeds a
   generator with ``key.seed``, so item ``i`` of epoch ``e`` is the same whichever worker loads
   it, and whether the loader was restarted in between. Any map-style data set accepts a
   ``SampleKey`` (it *is* an ``int``).
3. **A saved position.** The loader is torchdata's ``StatefulDataLoader``; the sampler's
   iterator saves ``(epoch, yielded)``, which Lightning stores in every checkpoint and hands
   back on resume, so the resumed epoch continues with the batch the interrupted one would
   have drawn next. This holds with and without worker processes.

Under a distributed strategy the sampler shards each epoch's permutation itself, one slice per
process (as ``DistributedSampler`` does), and is one, so Lightning does not wrap it in a
sampler of its own whose order would depend on Lightning's epoch count. Every process draws
the same number of samples an epoch, so the position rank zero saves is every process's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sized
from typing import Any, cast

import torch
from torch.utils.data import Dataset, DistributedSampler
from torchdata.stateful_dataloader import StatefulDataLoader

__all__ = ["SampleKey", "SeededSampler", "sample_seed", "seeded_loader"]

_MASK = (1 << 63) - 1


def _mix(*values: int) -> int:
    """A 63-bit seed from integers (splitmix64-style), so nearby inputs give unrelated streams."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & _MASK


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of item ``index``'s random draws in epoch ``epoch`` of a loader seeded by ``seed``."""
    return _mix(seed, epoch, index)


class SampleKey(int):
    """A data-set index that also carries the epoch it was drawn in and the seed of its random draws.

    It compares, hashes and indexes exactly like the plain ``int``; data sets that ignore
    ``key.epoch`` and ``key.seed`` need no change. A data set with random augmentations draws
    them from ``torch.Generator().manual_seed(key.seed)``.
    """

    epoch: int
    seed: int

    def __new__(cls, index: int, epoch: int, seed: int | None = None) -> SampleKey:
        key = super().__new__(cls, index)
        key.epoch = epoch
        key.seed = sample_seed(0, epoch, index) if seed is None else seed
        return key

    def __reduce__(self) -> tuple[Any, ...]:  # travels to worker processes intact
        return SampleKey, (int(self), self.epoch, self.seed)

    def __repr__(self) -> str:
        return f"SampleKey({int(self)}, epoch={self.epoch}, seed={self.seed})"


class _SeededIterator(Iterator[int]):
    """One epoch of a :class:`SeededSampler`; saves and restores its position (torchdata ``Stateful``)."""

    def __init__(self, sampler: SeededSampler, epoch: int) -> None:
        self.sampler, self.epoch, self.yielded = sampler, epoch, 0
        self.order = sampler.order(epoch)

    def __iter__(self) -> _SeededIterator:
        return self

    def __next__(self) -> SampleKey:
        if self.yielded >= len(self.order):
            raise StopIteration
        index = self.order[self.yielded]
        self.yielded += 1
        return SampleKey(index, self.epoch, sample_seed(self.sampler.seed, self.epoch, index))

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "yielded": self.yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.yielded = int(state["epoch"]), int(state["yielded"])
        self.order = self.sampler.order(self.epoch)
        self.sampler.epoch = self.epoch + 1


class SeededSampler(DistributedSampler[int]):
    """Shuffles (or not) with an order that is a function of ``(seed, epoch)`` only; shards it across processes.

    Each ``iter()`` starts the next pass (``epoch``). The count is the sampler's own and is
    saved with the loader: Lightning's epoch number is not used, since it may skip ahead when a
    run resumes from a checkpoint taken at the very end of an epoch, so ``set_epoch`` (which
    Lightning calls on every ``DistributedSampler``) does nothing.

    With ``num_replicas`` processes, each epoch's permutation is padded with its first indices
    to a multiple of ``num_replicas`` and process ``rank`` takes every ``num_replicas``-th index
    from position ``rank``: together the processes see every sample once an epoch (a few twice).

    Args:
        data_source: the data set (only its length is used).
        seed: seed of every epoch's permutation.
        shuffle: permute; otherwise every epoch visits ``0, 1, ..., n - 1``.
        num_replicas: the number of processes sharing the data; default: the distributed world
            size when ``torch.distributed`` is initialised, else 1.
        rank: this process's slice; default: its distributed rank, else 0.
    """

    def __init__(self, data_source: Sized, seed: int = 0, shuffle: bool = True, *, num_replicas: int | None = None,
                 rank: int | None = None) -> None:
        # DistributedSampler.__init__ is not called: it insists on an initialised process group
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.num_replicas = num_replicas if num_replicas is not None else (
            torch.distributed.get_world_size() if distributed else 1)
        self.rank = rank if rank is not None else (torch.distributed.get_rank() if distributed else 0)
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank {self.rank} is not one of the {self.num_replicas} processes (0 to "
                             f"{self.num_replicas - 1})")
        self.data_source, self.seed, self.shuffle = data_source, int(seed), shuffle
        self.dataset = cast(Dataset[Any], data_source)  # DistributedSampler's attribute; only its length is used
        self.drop_last, self.epoch = False, 0
        self.num_samples = -(-len(data_source) // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Ignored: the sampler counts its own epochs (see the class docstring)."""

    def order(self, epoch: int) -> list[int]:
        """This process's indices of epoch ``epoch``, in the order they are drawn."""
        n = len(self.data_source)
        if not self.shuffle:
            full = list(range(n))
        else:
            full = torch.randperm(n, generator=torch.Generator().manual_seed(_mix(self.seed, epoch))).tolist()
        if self.num_replicas == 1:
            return full
        padded = (full * -(-self.total_size // max(n, 1)))[:self.total_size]
        return padded[self.rank::self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        it = _SeededIterator(self, self.epoch)
        self.epoch += 1
        return it

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])


def seeded_loader(dataset: Dataset[Any], seed: int, *, shuffle: bool = True, **kwargs: Any) -> StatefulDataLoader:
    """A training loader over ``dataset`` that resumes mid-epoch exactly (see the module docstring).

    The global seed of :func:`lightning.seed_everything` (``ge.fit`` sets ``Project.seed``) is
    mixed into ``seed``, as Lightning does for its distributed samplers, so another
    ``Project.seed`` gives another order and other augmentations of the same data.

    Args:
        dataset: any map-style data set.
        seed: seed of the order, of the per-sample randomness and of the worker seeds.
        shuffle: permute every epoch.
        **kwargs: further ``DataLoader`` arguments (``batch_size``, ``num_workers``, ...),
            except ``shuffle``, ``sampler`` and ``generator``.
    """
    seed = _mix(seed, int(os.environ.get("PL_GLOBAL_SEED", 0)))
    sampler = SeededSampler(dataset, seed, shuffle)  # type: ignore[arg-type]
    # worker base seeds come from a generator of their own, not from the global RNG
    generator = torch.Generator().manual_seed(_mix(seed, -1))
    return StatefulDataLoader(dataset, sampler=sampler, generator=generator, **kwargs)
