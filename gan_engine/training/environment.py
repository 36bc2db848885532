"""What the ``Trainer:`` section asks of this machine, checked before a run directory is created.

Lightning checks accelerators, strategies and device counts when the ``Trainer`` is built,
which ``ge.fit`` does after opening the run. These checks run first, so a typo or a flag meant
for another machine costs nothing, and they bound the number of processes a CPU run starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

import torch
from lightning.pytorch.accelerators import AcceleratorRegistry
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.strategies import (
    DDPStrategy,
    ModelParallelStrategy,
    Strategy,
    StrategyRegistry,
)

from gan_engine.errors import ConfigIssue, did_you_mean

__all__ = ["ALLOW_OVERSUBSCRIPTION_ENV", "NullProfiler", "check_trainer", "engine_strategy", "die_with_parent",
           "usable_cores"]

#: Set to 1 to start more CPU processes than this process may use cores (a deliberate test, say).
ALLOW_OVERSUBSCRIPTION_ENV = "GAN_ENGINE_ALLOW_CPU_OVERSUBSCRIPTION"
_PLAIN_ACCELERATORS = ("auto", "gpu")
_StartMethod = Literal["popen", "spawn", "fork", "forkserver"]
_DDP_START: dict[str, _StartMethod] = {"ddp": "popen", "ddp_spawn": "spawn", "ddp_fork": "fork", "ddp_notebook": "fork"}


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a scheduler's allocation)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _accelerator(name: Any) -> tuple[str | None, list[ConfigIssue]]:
    """The accelerator that will run (``cpu``/``cuda``/...), or None when unknown, and the problems."""
    if not isinstance(name, str):
        return None, []  # an Accelerator object: the user's own choice
    known = sorted(AcceleratorRegistry.available_accelerators())
    if name in ("auto", "gpu"):
        if torch.cuda.is_available():
            return "cuda", []
        if name == "gpu" and not AcceleratorRegistry["mps"]["accelerator"].is_available():
            return None, [ConfigIssue("Trainer.accelerator", "is 'gpu' but this machine has no GPU Lightning can use "
                                      "(no CUDA device, no Apple MPS); use accelerator: cpu (or --devices cpu)")]
        return ("mps" if AcceleratorRegistry["mps"]["accelerator"].is_available() else "cpu"), []
    if name not in known:
        hint = did_you_mean(name, [*known, *_PLAIN_ACCELERATORS])
        return None, [ConfigIssue("Trainer.accelerator", f"is {name!r}, which Lightning does not know; choose one of "
                                  f"{', '.join([*_PLAIN_ACCELERATORS, *known])}" + (f" ({hint})" if hint else ""))]
    if not AcceleratorRegistry[name]["accelerator"].is_available():
        here = [n for n in known if AcceleratorRegistry[n]["accelerator"].is_available()]
        return None, [ConfigIssue("Trainer.accelerator", f"is {name!r}, which is not available on this machine; "
                                  f"available here: {', '.join(here)}")]
    return name, []


def _strategy(name: Any) -> list[ConfigIssue]:
    if not isinstance(name, str) or name in ("auto", "fsdp"):
        return []
    known = StrategyRegistry.available_strategies()
    if name in known:
        return []
    hint = did_you_mean(name, known)
    return [ConfigIssue("Trainer.strategy", f"is {name!r}, which Lightning does not know"
                        + (f"; {hint}" if hint else f"; choose one of auto, {', '.join(known)}"))]


def _count(devices: Any) -> int | None:
    if isinstance(devices, bool):
        return None
    if isinstance(devices, int):
        return devices if devices > 0 else None
    if isinstance(devices, (list, tuple)):
        return len(devices)
    if isinstance(devices, str) and devices.strip().isdigit():
        return int(devices)
    return None


def _devices(accelerator: str | None, devices: Any) -> list[ConfigIssue]:
    count = _count(devices)
    if count is None or accelerator is None:
        return []
    if accelerator == "cpu" and count > usable_cores() and os.environ.get(ALLOW_OVERSUBSCRIPTION_ENV) != "1":
        return [ConfigIssue("Trainer.devices", f"is {count}: on the CPU each device is a training process, and "
                            f"this process may use {usable_cores()} cores; use at most {usable_cores()} "
                            f"(--devices {usable_cores()}), or set {ALLOW_OVERSUBSCRIPTION_ENV}=1 to start them "
                            "anyway")]
    if accelerator == "cuda" and count > torch.cuda.device_count():
        return [ConfigIssue("Trainer.devices", f"is {count} but this machine has {torch.cuda.device_count()} CUDA "
                            "device(s)")]
    return []


def check_trainer(trainer: Mapping[str, Any]) -> list[ConfigIssue]:
    """Problems with ``Trainer.accelerator``, ``Trainer.strategy`` and ``Trainer.devices`` on this machine."""
    accelerator, issues = _accelerator(trainer.get("accelerator", "auto"))
    issues += _strategy(trainer.get("strategy", "auto"))
    return issues + _devices(accelerator, trainer.get("devices", "auto"))


class NullProfiler(PassThroughProfiler):
    """Lightning's default profiler (it profiles nothing), with one reusable context for every action.

    Lightning wraps each of its hook calls in ``trainer.profiler.profile(name)``: about ninety
    per GAN iteration with the engine's callbacks. The default builds a generator-based
    context manager for each; this returns the same ``nullcontext``. ``Trainer.profiler``
    (``simple``, ``advanced``, ``pytorch``) replaces it as usual.
    """

    _NOTHING: AbstractContextManager[Any] = nullcontext()

    def profile(self, action_name: str) -> AbstractContextManager[Any]:  # type: ignore[override]
        return self._NOTHING


def engine_strategy(strategy: Any, trainer: Mapping[str, Any] | None = None) -> Any:
    """The Lightning strategy a GAN needs for ``strategy`` (a name or a strategy object).

    - plain DDP names become ``DDPStrategy(find_unused_parameters=True)``: each phase of a GAN
      iteration back-propagates through one network only, so DDP must not wait for the other
      network's gradients (``ddp_find_unused_parameters_false`` is kept as given);
    - ``fsdp`` becomes ``ModelParallelStrategy`` with every process in the data-parallel
      dimension (FSDP2, each network sharded apart by the module, see
      :mod:`gan_engine.training.sharding`), saving whole checkpoints on rank zero;
    - other names and strategy objects are kept as given.

    ``trainer`` (the ``Trainer:`` keywords) gives ``devices`` and ``num_nodes`` for ``fsdp``.
    """
    if isinstance(strategy, Strategy):
        return strategy
    if strategy == "fsdp":
        t = trainer or {}
        devices = _count(t.get("devices", "auto"))
        if devices is None:
            accelerator, _ = _accelerator(t.get("accelerator", "auto"))
            devices = torch.cuda.device_count() if accelerator == "cuda" else 1
        return ModelParallelStrategy(data_parallel_size=devices * int(t.get("num_nodes", 1)), tensor_parallel_size=1,
                                     save_distributed_checkpoint=False)
    if strategy not in _DDP_START:
        return strategy
    return DDPStrategy(find_unused_parameters=True, start_method=_DDP_START[strategy])


def die_with_parent() -> None:
    """In a process started by a launcher: be killed when the parent dies, however it dies (Linux).

    Lightning's launcher re-runs the script once per extra device; if the first process is
    killed, its children would otherwise wait in a collective until a timeout.
    """
    if not sys.platform.startswith("linux") or os.environ.get("LOCAL_RANK", "0") == "0":
        return
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before the call above
            os._exit(1)
