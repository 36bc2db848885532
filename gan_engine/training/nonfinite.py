"""The non-finite loss policy: never replace a bad loss by a number; skip its update, or raise.

Policy ``skip`` (the default) without host synchronisation: each phase turns the finiteness
of its loss terms into per-term flags *on the device*. The flags are all-reduced across
processes (so every rank skips the same updates, names the same terms, and the replicas stay
identical); their union is handed to the optimizer as ``found_inf``: the fused Adam/AdamW
kernels read it on the device and leave the weights and the moments untouched when it is
set. Where the kernel cannot skip on the device (no fused kernel; fp16 mixed precision,
whose gradient scaler synchronises on every step anyway) the phase reads the flag on the
host and does not call ``step`` at all.

The phase keeps its flags as they are; the streak of consecutive bad iterations, the count
of skipped ones and the first iteration where a streak reached ``max_nonfinite`` are folded
from them on the device, a block of iterations at a time (every :attr:`NonFiniteGuard.fold_every`
iterations, and whenever the counters are read), with a cumulative maximum instead of one
update per iteration: a few kernels per phase in the hot loop instead of a few dozen per
iteration. :meth:`NonFiniteGuard.check` reads the counters — one transfer — at the logging
cadence and at the end of training, and raises once a streak reached ``max_nonfinite``, naming
the first bad terms and the iterations.

Policy ``raise`` all-reduces each phase's per-term flags first and reads the result on the
host (one synchronisation per phase, the price of stopping at once): every rank raises at the
same phase of the same iteration, naming the same terms, whichever rank saw the bad value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from gan_engine.errors import GanEngineError

__all__ = ["NonFiniteGuard"]

_NO_HIT = {"streak": 0, "skipped": 0, "hit_iteration": -1, "hit_terms": []}


def _all_reduce_max(flags: Tensor) -> Tensor:
    """``flags`` (bool) or'ed over every process (unchanged in a single process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if torch.distributed.get_world_size() > 1:
            flags = flags.to(torch.uint8)
            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
            return flags.bool()
    return flags


class NonFiniteGuard:
    """Device-side bookkeeping of non-finite loss terms (see the module docstring).

    Args:
        terms: every loss-term name the engine may report, in a fixed order.
        policy: ``"skip"`` or ``"raise"``.
        max_consecutive: consecutive bad iterations tolerated under ``skip``.
    """

    #: iterations whose flags are kept before they are folded into the counters
    fold_every = 64

    def __init__(self, terms: Sequence[str], policy: str = "skip", max_consecutive: int = 3) -> None:
        if policy not in ("skip", "raise"):
            raise ValueError(f"unknown non-finite policy {policy!r}; expected 'skip' or 'raise'")
        self.terms = list(dict.fromkeys(terms))
        self.policy, self.max_consecutive = policy, max_consecutive
        self._state: dict[str, Tensor] | None = None  # device counters, once anything was folded
        self._loaded: dict[str, Any] = dict(_NO_HIT)  # host counters until then (a checkpoint's)
        self._clock: int | None = None  # 0-based index of the running iteration
        self._phases: list[tuple[int, tuple[str, ...], Tensor]] = []  # (iteration, names, bad flags), not folded
        self._iterations = 0  # ended iterations not folded yet
        self._columns: dict[tuple[str, ...], list[int]] = {}

    def _columns_of(self, names: tuple[str, ...]) -> list[int]:
        """Where each reported term sits in :attr:`terms`."""
        columns = self._columns.get(names)
        if columns is None:
            unknown = [n for n in names if n not in self.terms]
            if unknown:
                raise KeyError(f"loss terms {unknown} were not declared to the non-finite guard ({self.terms})")
            columns = self._columns[names] = [self.terms.index(n) for n in names]
        return columns

    def observe(self, terms: Mapping[str, Tensor], iteration: int) -> Tensor:
        """Record one phase's loss terms; returns the phase's ``(1,)`` float flag (1 = skip), agreed by all ranks.

        Args:
            terms: the phase's loss terms by name (any shape; each must be entirely finite).
            iteration: 0-based index of the running iteration.
        """
        values = [v.detach() for v in terms.values()]
        if all(v.ndim == 0 for v in values):  # the usual case: one kernel for every term
            bad = torch.isfinite(torch.stack(values)).logical_not_()
        else:
            bad = torch.stack([torch.isfinite(v).all().logical_not_() for v in values])
        # decided on the flags every rank agrees on: the same updates are skipped everywhere and,
        # under 'raise', a NaN on one rank stops them all at the same collective, with the same message
        bad = _all_reduce_max(bad)
        if self.policy == "raise":
            if bool(bad.any()):
                bad_names = [n for n, b in zip(terms, bad.tolist()) if b]
                raise GanEngineError(
                    f"non-finite loss at iteration {iteration + 1}: {', '.join(bad_names)} "
                    "(Training.Stability.nonfinite is 'raise'). Lower the learning rates, enable gradient clipping "
                    "(Training.Stability.gradient_clip_val), check the data for NaN or infinite values, or set "
                    "Training.Stability.nonfinite: skip to skip such updates.")
            return bad.any(0, keepdim=True).float()
        names = tuple(terms)
        self._columns_of(names)
        if self._clock is None:
            self._clock = iteration
        self._phases.append((self._clock, names, bad))
        return bad.any(0, keepdim=True).float()

    def guard_step(self, optimizer: Optimizer, flag: Tensor) -> bool:
        """Prepare ``optimizer`` to skip its step when ``flag`` is set; False means: do not call ``step``."""
        if getattr(optimizer, "defaults", {}).get("fused"):
            optimizer.found_inf = flag.reshape(())  # type: ignore[attr-defined]
            return True
        return not bool(flag.item())

    def end_iteration(self) -> None:
        """Close the running iteration (no device work; every :attr:`fold_every` iterations, a fold)."""
        if self._clock is None:
            return
        self._clock += 1
        self._iterations += 1
        if self._iterations >= self.fold_every:
            self._fold()

    # -- the fold ----------------------------------------------------------------------
    def _fold(self) -> None:
        """Fold the ended iterations' flags into the device counters (device only, no synchronisation)."""
        if not self._iterations:
            return
        assert self._clock is not None
        first = self._clock - self._iterations  # 0-based index of the first iteration folded
        phases = [p for p in self._phases if p[0] < self._clock]
        self._phases = [p for p in self._phases if p[0] >= self._clock]  # the running iteration's, if any
        count, self._iterations = self._iterations, 0
        if not phases:  # iterations without a phase are good iterations
            device = self._state["streak"].device if self._state is not None else torch.device("cpu")
            bad_terms = torch.zeros(count, len(self.terms), dtype=torch.bool, device=device)
        else:
            device = phases[0][2].device
            hits = torch.zeros(count, len(self.terms), dtype=torch.int32, device=device)
            groups: dict[tuple[str, ...], list[tuple[int, Tensor]]] = {}
            for it, names, bad in phases:
                groups.setdefault(names, []).append((it - first, bad))
            for names, rows in groups.items():
                flags = torch.stack([bad for _, bad in rows])  # (phases, names)
                index = torch.tensor([r for r, _ in rows], device=device)[:, None]
                column = torch.tensor(self._columns_of(names), device=device)[None, :]
                hits.index_put_((index, column), flags.int(), accumulate=True)  # two phases may share names
            bad_terms = hits > 0
        s = self._counters(device)
        bad = bad_terms.any(dim=1)  # (count,): the iteration skipped an update
        position = torch.arange(count, device=device)
        last_good = torch.where(bad, -1, position).cummax(dim=0).values
        streak = torch.where(bad, position - last_good + torch.where(last_good < 0, s["streak"], 0), 0)
        reached = streak >= self.max_consecutive
        at = reached.int().argmax()  # first iteration of the block whose streak reached the limit
        hit = reached.any() & (s["hit_iteration"] < 0)
        s["hit_iteration"] = torch.where(hit, first + 1 + at, s["hit_iteration"])
        s["hit_terms"] = torch.where(hit, bad_terms[at], s["hit_terms"])
        s["skipped"] = s["skipped"] + bad.sum()
        s["streak"] = streak[-1]

    def _counters(self, device: torch.device) -> dict[str, Tensor]:
        """The device counters, created from the host ones on first use (the only host-to-device copies)."""
        if self._state is not None and self._state["streak"].device != device:
            self._state = {k: v.to(device) for k, v in self._state.items()}
        if self._state is None:
            saved = self._loaded
            ints = {k: torch.tensor(int(saved[k]), device=device) for k in ("streak", "skipped", "hit_iteration")}
            hit = torch.tensor([n in saved["hit_terms"] for n in self.terms], device=device)
            self._state = {**ints, "hit_terms": hit}
        return self._state

    # -- host side ---------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Host copy of the counters (one transfer): ``streak``, ``skipped``, ``hit_iteration``, ``hit_terms``."""
        self._fold()
        if self._state is None:
            return dict(self._loaded, hit_terms=list(self._loaded["hit_terms"]))
        s = self._state
        values = torch.cat([torch.stack([s["streak"], s["skipped"], s["hit_iteration"]]), s["hit_terms"].long()])
        host = values.tolist()
        hit_terms = [n for n, b in zip(self.terms, host[3:]) if b]
        return {"streak": host[0], "skipped": host[1], "hit_iteration": host[2], "hit_terms": hit_terms}

    def check(self) -> dict[str, Any]:
        """Raise :class:`GanEngineError` if a streak reached the limit; else return :meth:`summary`."""
        info = self.summary()
        if info["hit_iteration"] >= 0:
            last = info["hit_iteration"]
            raise GanEngineError(
                f"non-finite loss in {self.max_consecutive} consecutive iterations, {last - self.max_consecutive + 1} "
                f"to {last}: {', '.join(info['hit_terms']) or 'unknown terms'} "
                "(the updates were skipped, so the weights are those of the last good iteration). "
                "Lower the learning rates, enable gradient clipping (Training.Stability.gradient_clip_val), check "
                "the data for NaN or infinite values, or raise Training.Stability.max_nonfinite.")
        return info

    def state_dict(self) -> dict[str, Any]:
        return self.summary()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._loaded = {**_NO_HIT, **state, "hit_terms": list(state.get("hit_terms", []))}
        self._state, self._clock, self._phases, self._iterations = None, None, [], 0
