"""Load trained networks from a checkpoint alone: the resolved config travels inside it.

Both readers also take a ``.safetensors`` export (:func:`gan_engine.export.export`), which
holds the same config in its metadata and the generator weights with the EMA already merged.

Example:
    >>> import gan_engine as ge
    >>> generator = ge.load_generator("runs/quickstart/checkpoints/last.ckpt")  # doctest: +SKIP
    >>> sr = generator(lr)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import torch
from torch import nn

from gan_engine.checkpoint import check_compatible, ema_shadow, read_checkpoint, read_safetensors, submodule_state
from gan_engine.components.normalizers.base import Normalizer
from gan_engine.components.tasks.base import Task
from gan_engine.errors import CheckpointError, GanEngineError
from gan_engine.registry import generators, normalizers, tasks

__all__ = ["generator_of", "load_generator", "load_normalizers", "normalizers_of", "task_of"]


def _read(path: str | os.PathLike[str], map_location: str | torch.device) -> dict[str, Any]:
    """A ``.ckpt`` checkpoint, or a safetensors export in the same shape (``state_dict`` and ``gan_engine``)."""
    if pathlib.Path(path).suffix.lower() == ".safetensors":
        return read_safetensors(path, map_location)
    return read_checkpoint(path, map_location)


def _build(registry: Any, spec: Any, what: str, path: str | os.PathLike[str]) -> Any:
    if not isinstance(spec, dict) or "name" not in spec:
        raise CheckpointError(f"the config stored in {path} has no usable {what} section: {spec!r}")
    try:
        return registry.build(spec)
    except GanEngineError as exc:
        raise CheckpointError(f"cannot rebuild the {what} {spec['name']!r} stored in {path}: {exc}. Install the "
                              "package that provides it, or use the gan_engine version that wrote the file") from exc


def load_generator(checkpoint: str | os.PathLike[str], map_location: str | torch.device = "cpu", *,
                   ema: bool = True, config: Any = None) -> nn.Module:
    """The trained generator of a checkpoint, in eval mode, with its EMA weights when the checkpoint has them.

    The network is rebuilt from the resolved config stored in the checkpoint, so nothing
    else is needed. It works in the normalised space of the run; :func:`load_normalizers`
    returns the normalisers that map data to it and back.

    Args:
        checkpoint: path of a ``.ckpt`` written by gan_engine training, or of a ``.safetensors``
            export (whose weights are those chosen when exporting: ``ema`` changes nothing then).
        map_location: device the weights are loaded onto (CPU by default, also for GPU checkpoints).
        ema: use the exponential moving average of the weights when present (default).
        config: a configuration (path, mapping or :class:`~gan_engine.Config`) the generator must
            match; its ``Task`` and ``Generator`` sections are compared with the checkpoint's first.

    Raises:
        CheckpointError: missing, corrupt or foreign file, weights that do not fit the stored config,
            or a ``config`` whose ``Task``/``Generator`` differ from the checkpoint's (each key named).
    """
    ckpt = _read(checkpoint, map_location)
    if config is not None:
        from gan_engine.config import load_config

        check_compatible(load_config(config).to_dict(), ckpt, checkpoint, sections=("Task", "Generator"),
                         optimizers=False)
    return generator_of(ckpt, checkpoint, map_location, ema=ema)


def load_normalizers(checkpoint: str | os.PathLike[str], map_location: str | torch.device = "cpu"
                     ) -> dict[str, Normalizer]:
    """The run's normaliser of each branch (``lr``, ``hr``, ``cond``), with their saved state.

    ``checkpoint`` is a ``.ckpt`` file or a ``.safetensors`` export.
    """
    return normalizers_of(_read(checkpoint, map_location), checkpoint, map_location)


def generator_of(ckpt: dict[str, Any], source: str | os.PathLike[str], map_location: str | torch.device = "cpu", *,
                 ema: bool = True) -> nn.Module:
    """:func:`load_generator` for a checkpoint already read (``source`` names it in messages)."""
    generator: nn.Module = _build(generators, ckpt["gan_engine"]["config"].get("Generator"), "generator", source)
    state = submodule_state(ckpt, "generator")
    shadow = ema_shadow(ckpt) if ema else None
    if shadow is not None:
        state.update(shadow)
    try:
        generator.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"the generator weights in {source} do not fit the generator its config "
                              f"describes: {exc}. The file may have been edited; use another checkpoint") from exc
    return generator.to(map_location).eval()


def normalizers_of(ckpt: dict[str, Any], source: str | os.PathLike[str], map_location: str | torch.device = "cpu"
                   ) -> dict[str, Normalizer]:
    """:func:`load_normalizers` for a checkpoint already read (``source`` names it in messages)."""
    norm = ckpt["gan_engine"]["config"].get("Normalization") or {"name": "identity"}
    main = {k: v for k, v in norm.items() if k not in ("lr", "hr", "cond")}
    identity = {"name": "identity"}
    specs = {"lr": norm.get("lr") or main, "hr": norm.get("hr") or main, "cond": norm.get("cond") or identity}
    out: dict[str, Normalizer] = {}
    for branch, spec in specs.items():
        built: Normalizer = _build(normalizers, spec, f"{branch} normaliser", source)
        built.load_state_dict(submodule_state(ckpt, f"normalizers.{branch}"))
        out[branch] = built.to(map_location).eval()
    return out


def task_of(ckpt: dict[str, Any], source: str | os.PathLike[str]) -> Task:
    """The task of a checkpoint already read, rebuilt from its ``Task`` section."""
    task: Task = _build(tasks, ckpt["gan_engine"]["config"].get("Task"), "task", source)
    return task
