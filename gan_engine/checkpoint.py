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

import json
import os
import pathlib
import pickle
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from gan_engine.errors import CheckpointError

__all__ = ["CHECKPOINT_FORMAT", "EMA_STATE_KIND", "IDENTITY_SECTIONS", "check_compatible", "ema_shadow",
           "newest_checkpoint", "read_checkpoint", "submodule_state"]

#: Layout version of ``checkpoint["gan_engine"]`` written by this version.
CHECKPOINT_FORMAT = 1
#: Marker of the EMA callback's state inside ``checkpoint["callbacks"]``.
EMA_STATE_KIND = "gan_engine.ema"
#: Plain classes a checkpoint may legitimately hold besides tensors and containers.
_SAFE_GLOBALS: list[Any] = [pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePosixPath, pathlib.PureWindowsPath]


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu", *,
                    mmap: bool = False) -> dict[str, Any]:
    """Load a gan_engine checkpoint file onto ``map_location`` (CPU by default, whatever it was saved from).

    With ``mmap=True`` tensors are mapped, not read: opening a multi-gigabyte checkpoint to
    look at its ``gan_engine`` entry (its iteration, its config) then costs almost nothing.

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
            ckpt = torch.load(p, map_location=map_location, weights_only=True, mmap=mmap)
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


#: Config sections that define what a checkpoint holds; resuming demands they are unchanged.
IDENTITY_SECTIONS = ("Task", "Generator", "Discriminator")
_MAX_LISTED = 12


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def _differences(config: Mapping[str, Any], saved: Mapping[str, Any], sections: Sequence[str]) -> list[str]:
    mine = {k: v for s in sections for k, v in _flatten(config.get(s), s).items()}
    theirs = {k: v for s in sections for k, v in _flatten(saved.get(s), s).items()}
    missing = "(not set)"
    return [f"{k}: {mine.get(k, missing)!r} in the config, {theirs.get(k, missing)!r} in the checkpoint"
            for k in sorted(mine.keys() | theirs.keys()) if mine.get(k, missing) != theirs.get(k, missing)]


def _tensor_mismatches(expected: Mapping[str, torch.Size], ckpt_state: Mapping[str, Any]) -> list[str]:
    got = {k: tuple(v.shape) for k, v in ckpt_state.items() if isinstance(v, torch.Tensor)}
    want = {k: tuple(v) for k, v in expected.items()}
    out = [f"{k}: shape {want[k]} in the model, {got[k]} in the checkpoint"
           for k in sorted(want.keys() & got.keys()) if want[k] != got[k]]
    out += [f"{k}: in the model, not in the checkpoint" for k in sorted(want.keys() - got.keys())]
    out += [f"{k}: in the checkpoint, not in the model" for k in sorted(got.keys() - want.keys())]
    return out


def check_compatible(config: Mapping[str, Any], ckpt: Mapping[str, Any], path: str | os.PathLike[str], *,
                     sections: Sequence[str] = IDENTITY_SECTIONS, optimizers: bool = True,
                     shapes: Mapping[str, torch.Size] | None = None, prefix: str = "") -> None:
    """Refuse a checkpoint that the model built from ``config`` cannot continue from.

    The sections that define the networks (``Task``, ``Generator``, ``Discriminator``) must
    be unchanged, as must the optimizer types (their states do not transfer); every other key
    (``Training.max_steps``, learning rates, logging, ...) may change between sessions.
    ``shapes`` (the model's ``state_dict`` shapes) catches the rest, e.g. a normaliser over a
    different band count.

    Args:
        config: the resolved config as a plain dict (``cfg.to_dict()``).
        ckpt: a checkpoint from :func:`read_checkpoint`.
        path: the checkpoint's path, for the message.
        sections: the config sections that must match.
        optimizers: also compare ``Optimizers.*.name``.
        shapes: expected tensor shapes by ``state_dict`` key; ``None`` skips that check.
        prefix: compare only ``state_dict`` entries under this prefix (e.g. ``"generator."``).

    Raises:
        CheckpointError: one message listing every differing key.
    """
    saved = ckpt["gan_engine"]["config"]
    problems = _differences(config, saved, sections)
    if optimizers:
        problems += [p for p in _differences(config, saved, ["Optimizers"]) if p.split(":")[0].endswith(".name")]
    if shapes is not None and not problems:
        state = {k: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
        problems = _tensor_mismatches({k: v for k, v in shapes.items() if k.startswith(prefix)}, state)
        if problems:
            problems += [p for p in _differences(config, saved, [k for k in config if k not in sections])
                         if p.split(".")[0] in ("Data", "Normalization", "Losses")][:_MAX_LISTED]
    if problems:
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise CheckpointError(f"{path} does not fit this configuration:\n  " + "\n  ".join(problems[:_MAX_LISTED])
                              + more + "\nResume with the configuration the checkpoint was trained with (its run "
                              "directory's config.yaml, or ckpt['gan_engine']['config']), or start a new run")


def _rank(path: pathlib.Path, ckpt: Mapping[str, Any]) -> tuple[int, int, int]:
    state = ckpt["gan_engine"]
    # Same iteration: one holding pending micro-batches is further on; last.ckpt wins ties.
    return int(state.get("iteration", 0)), len(state.get("pending") or ()), int(path.name == "last.ckpt")


def newest_checkpoint(folder: str | os.PathLike[str], *, warn: bool = True) -> tuple[pathlib.Path, int] | None:
    """The complete checkpoint of ``folder`` that is furthest on, and its iteration.

    Every ``*.ckpt`` file (``last.ckpt``, periodic ``iter-*.ckpt``, ``best-*.ckpt``) is
    opened memory-mapped and ranked by the iteration stored inside, not by file time, so a
    run killed before its first ``last.ckpt`` resumes from its newest snapshot. A file that
    cannot be read (truncated by a kill or a full disk) is skipped with a warning naming it.

    Returns:
        ``(path, iteration)``, or ``None`` when the folder holds no readable checkpoint.
    """
    best: tuple[tuple[int, int, int], pathlib.Path] | None = None
    for path in sorted(pathlib.Path(folder).glob("*.ckpt")):
        if path.name.startswith("."):
            continue
        try:
            rank = _rank(path, read_checkpoint(path, mmap=True))
        except CheckpointError as exc:
            if warn:
                warnings.warn(f"skipping the checkpoint {path}, which cannot be resumed from: {exc}", RuntimeWarning,
                              stacklevel=2)
            continue
        if best is None or rank > best[0]:
            best = (rank, path)
    return (best[1], best[0][0]) if best is not None else None


# -- safetensors exports ------------------------------------------------------------------

#: ``format`` entry of a safetensors export's metadata, and the layout version written.
SAFETENSORS_FORMAT = "gan_engine-safetensors"
SAFETENSORS_VERSION = 1


def read_safetensors(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A safetensors export as a checkpoint: ``{"state_dict": {...}, "gan_engine": {"config", "iteration"}}``.

    The ``state_dict`` holds the ``generator.*`` and ``normalizers.<branch>.*`` tensors; code
    that rebuilds networks from a checkpoint (:func:`~gan_engine.inference.generator_of`,
    :func:`~gan_engine.checkpoint.submodule_state`) takes the result as it is. Only tensors and
    a JSON header are read: nothing is unpickled.

    Raises:
        CheckpointError: the file is missing, corrupt, not a gan_engine export, or written by a
            newer layout.
    """
    p = pathlib.Path(path)
    if not p.is_file():
        raise CheckpointError(f"no safetensors export at {p}: the file does not exist. Check the path, or write "
                              "one with ge.export(checkpoint, path, format='safetensors')")
    try:
        import safetensors
    except ImportError as exc:
        raise CheckpointError(f"reading {p} needs the package 'safetensors', which is not installed: "
                              "pip install 'gan_engine[export]'") from exc
    try:
        with safetensors.safe_open(str(p), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k).to(map_location) for k in f.keys()}
    except (safetensors.SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{p} ({p.stat().st_size} bytes) is truncated or corrupt and cannot be read as "
                              f"safetensors ({type(exc).__name__}: {exc}); export it again") from exc
    return {"state_dict": state, "gan_engine": _export_info(metadata, p)}


def _export_info(metadata: dict[str, str], p: pathlib.Path) -> dict[str, Any]:
    if metadata.get("format") != SAFETENSORS_FORMAT:
        raise CheckpointError(f"{p} is a safetensors file but not a gan_engine export (metadata format "
                              f"{metadata.get('format')!r}, expected {SAFETENSORS_FORMAT!r}); write one with "
                              "ge.export(checkpoint, path, format='safetensors')")
    try:
        version, config = int(metadata.get("format_version", "")), json.loads(metadata.get("config", ""))
        iteration = int(metadata.get("iteration", "0"))
    except ValueError as exc:
        raise CheckpointError(f"the metadata of {p} is damaged ({exc}); export it again") from exc
    if version > SAFETENSORS_VERSION:
        raise CheckpointError(f"{p} has export layout {version}; this gan_engine reads layout "
                              f"{SAFETENSORS_VERSION} at most: upgrade gan_engine")
    if not isinstance(config, dict):
        raise CheckpointError(f"the config stored in {p} is not a mapping; export it again")
    return {"config": config, "iteration": iteration}
