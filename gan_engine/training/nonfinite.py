"""The non-finite loss policy: never replace a bad loss by a number; skip its update, or raise.

Policy ``skip`` (the default) without host synchronisation: each phase turns the finiteness
of its loss terms into a flag *on the device*. The flag is all-reduced across processes
(so every rank skips the same updates and the replicas stay identical) and handed to the
optimizer as ``found_inf``: the fused Adam/AdamW kernels read it on the device and leave
the weights and the moments untouched when it is set. The streak of consecutive bad
iterations is also counted on the device; :meth:`NonFiniteGuard.check` reads it — one
transfer — at the logging cadence and at the end of training, and raises once a streak
reached ``max_nonfinite``, naming the first bad terms and the iteration. Where the kernel
cannot skip on the device (no fused kernel; fp16 mixed precision, whose gradient scaler
synchronises on every step anyway) the phase reads the flag on the host and does not call
``step`` at all.

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


def _all_reduce_max(flag: Tensor) -> Tensor:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if torch.distributed.get_world_size() > 1:
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return flag


class NonFiniteGuard:
    """Device-side bookkeeping of non-finite loss terms (see the module docstring).

    Args:
        terms: every loss-term name the engine may report, in a fixed order.
        policy: ``"skip"`` or ``"raise"``.
        max_consecutive: consecutive bad iterations tolerated under ``skip``.
    """

    def __init__(self, terms: Sequence[str], policy: str = "skip", max_consecutive: int = 3) -> None:
        if policy not in ("skip", "raise"):
            raise ValueError(f"unknown non-finite policy {policy!r}; expected 'skip' or 'raise'")
        self.terms = list(dict.fromkeys(terms))
        self.policy, self.max_consecutive = policy, max_consecutive
        self._state: dict[str, Tensor] | None = None
        self._loaded: dict[str, Any] | None = None
        self._masks: dict[tuple[str, ...], Tensor] = {}

    def _mask(self, names: tuple[str, ...], device: torch.device) -> Tensor:
        """``(len(names), len(terms))`` one-hot rows: where each reported term sits in :attr:`terms`."""
        mask = self._masks.get(names)
        if mask is None or mask.device != device:
            unknown = [n for n in names if n not in self.terms]
            if unknown:
                raise KeyError(f"loss terms {unknown} were not declared to the non-finite guard ({self.terms})")
            eye = torch.eye(len(self.terms), dtype=torch.bool)
            mask = self._masks[names] = eye[[self.terms.index(n) for n in names]].to(device)
        return mask

    # -- device state ------------------------------------------------------------------
    def _ensure(self, device: torch.device, iteration: int) -> dict[str, Tensor]:
        """The device counters, created once per device (the only host-to-device copies)."""
        if self._state is None or self._state["streak"].device != device:
            saved = self._loaded or {}
            ints = {k: torch.tensor(int(saved.get(k, v)), device=device)
                    for k, v in {"streak": 0, "skipped": 0, "hit_iteration": -1}.items()}
            hit = torch.tensor([n in saved.get("hit_terms", []) for n in self.terms], device=device)
            self._state = {**ints, "clock": torch.tensor(iteration, device=device), "hit_terms": hit,
                           "current": torch.zeros(len(self.terms), dtype=torch.bool, device=device)}
            self._loaded = None
        return self._state

    def observe(self, terms: Mapping[str, Tensor], iteration: int) -> Tensor:
        """Record one phase's loss terms; returns the phase's ``(1,)`` float flag (1 = skip), agreed by all ranks.

        Args:
            terms: the phase's loss terms by name (any shape; each must be entirely finite).
            iteration: 0-based index of the running iteration.
        """
        values = [v.detach() for v in terms.values()]
        state = self._ensure(values[0].device, iteration)
        if all(v.ndim == 0 for v in values):  # the usual case: one kernel for every term
            bad = torch.isfinite(torch.stack(values)).logical_not_()
        else:
            bad = torch.stack([~torch.isfinite(v).all() for v in values])
        if self.policy == "raise":
            # decided on the value every rank agrees on: a NaN on one rank stops them all at the
            # same collective, with the same message, instead of leaving the others waiting
            bad = _all_reduce_max(bad.to(torch.uint8)).bool()
            if bool(bad.any()):
                names = [n for n, b in zip(terms, bad.tolist()) if b]
                raise GanEngineError(
                    f"non-finite loss at iteration {iteration + 1}: {', '.join(names)} "
                    "(Training.Stability.nonfinite is 'raise'). Lower the learning rates, enable gradient clipping "
                    "(Training.Stability.gradient_clip_val), check the data for NaN or infinite values, or set "
                    "Training.Stability.nonfinite: skip to skip such updates.")
            return bad.any().float().reshape(1)
        state["current"] |= (bad[:, None] & self._mask(tuple(terms), bad.device)).any(dim=0)
        return _all_reduce_max(bad.any(0, keepdim=True).float())

    def guard_step(self, optimizer: Optimizer, flag: Tensor) -> bool:
        """Prepare ``optimizer`` to skip its step when ``flag`` is set; False means: do not call ``step``."""
        if getattr(optimizer, "defaults", {}).get("fused"):
            optimizer.found_inf = flag.reshape(())  # type: ignore[attr-defined]
            return True
        return not bool(flag.item())

    def end_iteration(self) -> None:
        """Fold the iteration's flags into the streak and advance the device clock (device only)."""
        if self._state is None:
            return
        s = self._state
        current = _all_reduce_max(s["current"].to(torch.uint8)).bool()
        bad = current.any()
        s["clock"] += 1
        s["streak"] = (s["streak"] + 1) * bad
        s["skipped"] = s["skipped"] + bad
        hit = (s["streak"] >= self.max_consecutive) & (s["hit_iteration"] < 0)
        s["hit_iteration"] = torch.where(hit, s["clock"], s["hit_iteration"])
        s["hit_terms"] = torch.where(hit, current, s["hit_terms"])
        s["current"].zero_()

    # -- host side ---------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Host copy of the counters (one transfer): ``streak``, ``skipped``, ``hit_iteration``, ``hit_terms``."""
        if self._state is None:
            return dict(self._loaded or {"streak": 0, "skipped": 0, "hit_iteration": -1, "hit_terms": []})
        s = self._state
        counts = torch.stack([s["streak"], s["skipped"], s["hit_iteration"]]).tolist()
        hit_terms = [n for n, b in zip(self.terms, s["hit_terms"].tolist()) if b]
        return {"streak": counts[0], "skipped": counts[1], "hit_iteration": counts[2], "hit_terms": hit_terms}

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
        self._loaded, self._state = dict(state), None
