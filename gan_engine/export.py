"""Export a trained generator as ONNX, TorchScript or safetensors.

ONNX and TorchScript files hold one graph that works in data units: the run's normaliser of
each input, the generator, the output branch's denormaliser and, for inpainting, the composite
with the known pixels. Batch, height and width are dynamic. Each file is checked after it is
written: it is run on an input of another size than the one it was traced with, and compared
with PyTorch.

A safetensors file holds tensors only: the generator's weights (``generator.*``, EMA merged in)
and each normaliser's state (``normalizers.<branch>.*``), with the resolved config in its
metadata. :func:`read_safetensors` returns it in the shape of a checkpoint, so
:func:`~gan_engine.load_generator` and :func:`~gan_engine.inference.load_normalizers` read it
as they read a ``.ckpt``; nothing in it is unpickled.

Every file is written under a temporary name beside its destination and renamed when it is
complete: a failed export leaves nothing at the output path.

Example:
    >>> import gan_engine as ge
    >>> ge.export("runs/quickstart/checkpoints/last.ckpt", "sr.onnx")  # doctest: +SKIP
    PosixPath('sr.onnx')
"""

from __future__ import annotations

import inspect
import json
import os
import pathlib
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import torch
from torch import Tensor, nn

from gan_engine.checkpoint import SAFETENSORS_FORMAT, SAFETENSORS_VERSION, read_safetensors
from gan_engine.components.normalizers.base import Normalizer
from gan_engine.components.tasks.base import Task
from gan_engine.data_units import (
    DataUnitsModel,
    Signature,
    check_normalizers,
    quiet_tracing,
    sample_inputs,
    signature_of,
)
from gan_engine.errors import GanEngineError, did_you_mean
from gan_engine.inference import _read, generator_of, normalizers_of, task_of

__all__ = ["FORMATS", "SAFETENSORS_FORMAT", "TOLERANCE", "export", "read_safetensors"]

#: The formats :func:`export` writes.
FORMATS = ("onnx", "torchscript", "safetensors")
#: Largest difference allowed between a written graph and PyTorch, scaled by the output's
#: largest magnitude when that exceeds 1 (data in digital numbers).
TOLERANCE = 1e-4
_INSTALL = "pip install 'gan_engine[export]'"


@dataclass
class _Source:
    """The networks rebuilt from a checkpoint, and what the checkpoint says about them."""

    path: pathlib.Path
    generator: nn.Module
    normalizers: dict[str, Normalizer]
    task: Task
    config: dict[str, Any]
    iteration: int


def export(checkpoint: str | os.PathLike[str], path: str | os.PathLike[str], format: str = "onnx", *,
           ema: bool = True, opset: int = 17) -> pathlib.Path:
    """Write the generator of ``checkpoint`` to ``path`` as ONNX, TorchScript or safetensors.

    The ONNX and TorchScript graphs take and return data units (see the module docstring):
    super-resolution and image-to-image take one image ``(N, C, H, W)`` named ``lr`` or
    ``cond``; inpainting takes ``image`` and ``mask`` ``(N, 1, H, W)`` (1 on the holes) and
    returns the composite; synthesis takes ``noise`` ``(N, latent_dim)`` and, with classes,
    ``label`` ``(N,)`` (int64). The output is named ``output``.

    Args:
        checkpoint: a ``.ckpt`` written by training, or a safetensors export.
        path: the file to write; its folder is created when missing.
        format: ``"onnx"``, ``"torchscript"`` or ``"safetensors"``.
        ema: export the moving average of the generator's weights when the checkpoint has one;
            ``False`` exports the weights the optimizer trained.
        opset: ONNX opset version.

    Returns:
        ``path``, written completely.

    Raises:
        CheckpointError: the checkpoint is missing, corrupt or not gan_engine's.
        GanEngineError: an unknown format, a missing optional package, a normaliser or generator
            that cannot be traced, or a written graph that disagrees with PyTorch (nothing is
            left at ``path`` then).
    """
    if format not in _WRITERS:
        hint = did_you_mean(str(format), FORMATS)
        raise GanEngineError(f"unknown export format {format!r}; expected one of {', '.join(FORMATS)}"
                             + (f" ({hint})" if hint else ""))
    out = pathlib.Path(path)
    # Building the networks and the check inputs draws random numbers: from a seed of its own, so an
    # export is reproducible and leaves the caller's random state as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        source = _load(pathlib.Path(checkpoint), ema)
        with _atomic(out) as tmp:
            _WRITERS[format](source, tmp, opset)
    return out


def _load(path: pathlib.Path, ema: bool) -> _Source:
    ckpt = _read(path, "cpu")
    state = ckpt["gan_engine"]
    return _Source(path, generator_of(ckpt, path, ema=ema), normalizers_of(ckpt, path),
                   task_of(ckpt, path), dict(state["config"]), int(state.get("iteration", 0)))


@contextmanager
def _atomic(path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A temporary path beside ``path``, renamed to it when the body succeeds, removed in any case."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GanEngineError(f"cannot write {path}: its folder cannot be created ({exc}); choose another "
                             "output path") from exc
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise GanEngineError(f"cannot write {path} ({type(exc).__name__}: {exc}); check that its folder is "
                             "writable and has space") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _require(module: str) -> Any:
    try:
        return import_module(module)
    except ImportError as exc:
        raise GanEngineError(f"exporting needs the package {module.split('.')[0]!r}, which is not installed: "
                             f"{_INSTALL}") from exc


def _graph(source: _Source) -> tuple[DataUnitsModel, Signature, tuple[Tensor, ...], tuple[Tensor, ...]]:
    """The data-unit model, its signature, an example input to trace and a probe of another size."""
    name = str((source.config.get("Task") or {}).get("name"))
    try:
        signature = signature_of(source.generator, source.task, name)
    except GanEngineError as exc:
        raise GanEngineError(f"{source.path}: {exc}") from exc
    model = DataUnitsModel(source.generator.float(), source.normalizers, source.task, signature.keys).eval()
    example, probe = sample_inputs(signature)
    check_normalizers(model, example, probe)
    return model, signature, example, probe


def _compare(got: Tensor, expected: Tensor, what: str) -> None:
    """Raise unless ``got`` matches ``expected`` to :data:`TOLERANCE` (scaled by the output's magnitude)."""
    if got.shape != expected.shape:
        raise GanEngineError(f"{what} returns shape {tuple(got.shape)} where PyTorch returns "
                             f"{tuple(expected.shape)}: the graph does not follow the input's size")
    error = (got.double() - expected.double()).abs().max()
    limit = TOLERANCE * expected.double().abs().max().clamp_min(1.0)
    if not bool(error <= limit):
        raise GanEngineError(f"{what} differs from PyTorch by up to {float(error):.3g} (allowed {float(limit):.3g}) "
                             "on an input of another size than the one it was traced with: the generator depends "
                             "on its input's size through Python code, or an operator is exported differently. "
                             "Nothing was written; try another format or opset")


# -- writers ------------------------------------------------------------------------------


def _classic_exporter() -> dict[str, Any]:
    """Choose the TorchScript-based ONNX exporter: it needs no onnxscript and keeps the dynamic axes
    as declared (torch ≥ 2.9 defaults to the torch.export-based one; older versions know no other)."""
    return {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def _write_onnx(source: _Source, tmp: pathlib.Path, opset: int) -> None:
    onnx = _require("onnx")
    _require("onnxruntime")
    model, signature, example, probe = _graph(source)
    with torch.no_grad(), quiet_tracing():
        expected = model(*probe)
        try:
            torch.onnx.export(model, example, str(tmp), opset_version=opset, input_names=list(signature.keys),
                              output_names=["output"], dynamic_axes=signature.dynamic, **_classic_exporter())
            onnx.checker.check_model(str(tmp))
        except (GanEngineError, OSError):
            raise
        except Exception as exc:
            raise GanEngineError(f"the generator of {source.path} cannot be exported to ONNX opset {opset} "
                                 f"({type(exc).__name__}: {exc}); try another opset, or format='torchscript'") from exc
    got = _onnxruntime(tmp, dict(zip(signature.keys, probe)))
    _compare(torch.from_numpy(got), expected, "the ONNX graph run by onnxruntime")


def _onnxruntime(path: pathlib.Path, inputs: dict[str, Tensor]) -> Any:
    """The first output of the ONNX file at ``path`` for ``inputs``, run by onnxruntime on the CPU."""
    ort = import_module("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]


def _write_torchscript(source: _Source, tmp: pathlib.Path, opset: int) -> None:
    model, _, example, probe = _graph(source)
    with torch.no_grad(), quiet_tracing():
        expected = model(*probe)
        torch.jit.save(torch.jit.trace(model, example, check_trace=False), str(tmp))
        got = torch.jit.load(str(tmp))(*probe)
    _compare(got, expected, "the TorchScript graph, loaded again,")


def _write_safetensors(source: _Source, tmp: pathlib.Path, opset: int) -> None:
    save_file = _require("safetensors.torch").save_file
    tensors = {f"generator.{k}": v for k, v in source.generator.state_dict().items()}
    for branch, norm in source.normalizers.items():
        tensors.update({f"normalizers.{branch}.{k}": v for k, v in norm.state_dict().items()})
    metadata = {"format": SAFETENSORS_FORMAT, "format_version": str(SAFETENSORS_VERSION),
                "config": json.dumps(source.config, default=str), "iteration": str(source.iteration)}
    # Own, contiguous storage per tensor: safetensors refuses views and shared memory.
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(tmp), metadata=metadata)


_WRITERS: dict[str, Callable[[_Source, pathlib.Path, int], None]] = {
    "onnx": _write_onnx, "torchscript": _write_torchscript, "safetensors": _write_safetensors}


# -- reading safetensors ------------------------------------------------------------------


class _CallableModule(types.ModuleType):
    """Importing ``gan_engine.export`` binds that name on the package to this module, hiding the
    function ``ge.export``; calling the module calls the function, so both keep working."""

    def __call__(self, *args: Any, **kwargs: Any) -> pathlib.Path:
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
