"""Reading gan_engine checkpoints safely, with errors that say what to do.

A checkpoint is a Lightning checkpoint with a ``"gan_engine"`` entry (see
:class:`~gan_engine.training.module.GANModule`): ``format``, ``version``, ``config`` (the
resolved config as a plain dict), ``iteration``, ... The EMA weights are in the ``ema``
callback's state under ``checkpoint["callbacks"]``.

Files are read with ``torch.load(..., weights_only=True)``: only tensors and plain
containers are unpickled, so a checkpoint from an untrusted source cannot run code. This
module imports torch only (no Lightning).
"""

from __future__ import annotations

import os
import pathlib
import pickle
import zipfile
from collections.abc import Mapping
from typing import Any

import torch

from gan_engine.errors import CheckpointError

__all__ = ["CHECKPOINT_FORMAT", "EMA_STATE_KIND", "ema_shadow", "read_checkpoint", "submodule_state"]

#: Layout version of ``checkpoint["gan_engine"]`` written by this version.
CHECKPOINT_FORMAT = 1
#: Marker of the EMA callback's state inside ``checkpoint["callbacks"]``.
EMA_STATE_KIND = "gan_engine.ema"
#: Plain classes a checkpoint may legitimately hold besides tensors and containers.
_SAFE_GLOBALS: list[Any] = [pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePosixPath, pathlib.PureWindowsPath]


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a gan_engine checkpoint file onto ``map_location`` (CPU by default, whatever it was saved from).

    Raises:
        CheckpointError: the file is missing, truncated or corrupt, holds objects other than
            tensors and plain data, is not a gan_engine checkpoint, or was written by a newer
            gan_engine.
    """
    p = pathlib.Path(path)
    if not p.is_file():
        raise CheckpointError(f"no checkpoint at {p}: the file does not exist. Check the path; a run keeps its "
                              "checkpoints in <run dir>/checkpoints/ (last.ckpt, best and periodic snapshots)")
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{p} holds objects other than tensors and plain data, which gan_engine does not "
                              f"unpickle (weights_only=True): {exc}. Load it only if you trust its source, "
                              "with torch.load(path, weights_only=False)") from exc
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError, ValueError) as exc:
        size = p.stat().st_size
        raise CheckpointError(f"{p} ({size} bytes) is truncated or corrupt and cannot be read ({type(exc).__name__}: "
                              f"{exc}). It was probably cut off while being written: use another checkpoint of the "
                              "run (last.ckpt, a periodic snapshot) or train again") from exc
    return _check_layout(ckpt, p)


def _check_layout(ckpt: Any, p: pathlib.Path) -> dict[str, Any]:
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{p} is not a Lightning checkpoint (no 'state_dict'); expected a .ckpt file written "
                              "by gan_engine training")
    state = ckpt.get("gan_engine")
    if not isinstance(state, Mapping) or "config" not in state:
        raise CheckpointError(f"{p} was not written by a gan_engine GANModule (no 'gan_engine' entry with the "
                              "config); rebuild the model yourself and load ckpt['state_dict'] into it")
    if int(state.get("format", 0)) > CHECKPOINT_FORMAT:
        raise CheckpointError(f"{p} was written by gan_engine {state.get('version')} (checkpoint format "
                              f"{state.get('format')}); this version reads format {CHECKPOINT_FORMAT} at most: "
                              "upgrade gan_engine")
    return ckpt


def submodule_state(ckpt: Mapping[str, Any], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``ckpt["state_dict"]`` under ``prefix.``, with the prefix removed."""
    head = prefix + "."
    return {k[len(head):]: v for k, v in ckpt["state_dict"].items() if k.startswith(head)}


def ema_shadow(ckpt: Mapping[str, Any]) -> dict[str, torch.Tensor] | None:
    """The EMA callback's averaged generator parameters, or None when the checkpoint has none."""
    for state in (ckpt.get("callbacks") or {}).values():
        if isinstance(state, Mapping) and state.get("kind") == EMA_STATE_KIND and state.get("shadow"):
            return dict(state["shadow"])
    return None
