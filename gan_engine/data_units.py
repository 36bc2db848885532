"""The generator between its run's normalisers, as one module: data units in, data units out.

:class:`DataUnitsModel` applies each input's normaliser (the task's ``branches``), runs the
generator on the task's ``generator_inputs``, undoes the output branch's normaliser and hands
the result to the task's ``predict_output`` (inpainting puts the known pixels back). It is what the ONNX
and TorchScript exports trace (:mod:`gan_engine.export`); :func:`signature_of` says which
inputs it takes and :func:`check_normalizers` that each normaliser survives tracing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gan_engine.components.normalizers.base import Normalizer
from gan_engine.components.tasks.base import Task
from gan_engine.errors import GanEngineError

__all__ = ["DataUnitsModel", "Signature", "check_normalizers", "input_bands", "quiet_tracing", "sample_inputs",
           "signature_of"]

def _is_latent(generator: nn.Module) -> bool:
    return getattr(generator, "input_kind", "image") == "latent"


class DataUnitsModel(nn.Module):
    """The generator between the run's normalisers: data units in, data units out.

    Args:
        generator: the trained generator.
        normalizers: the run's normaliser of each branch (``lr``, ``hr``, ``cond``).
        task: the run's task (its ``branches``, ``output_branch``, ``generator_inputs``).
        keys: the batch key of each positional input, as :func:`signature_of` gives them.
    """

    def __init__(self, generator: nn.Module, normalizers: Mapping[str, Normalizer], task: Task,
                 keys: tuple[str, ...]) -> None:
        super().__init__()
        self.generator, self.task, self.keys = generator, task, keys
        self.normalizers = nn.ModuleDict(dict(normalizers))
        self.latent = _is_latent(generator)

    def forward(self, *inputs: Tensor) -> Tensor:
        raw = dict(zip(self.keys, inputs))
        if self.latent:  # noise and labels go to the generator as they are
            fake = self.generator(*inputs)
        else:
            batch = {k: self.step(self.task.branches[k], "normalize", v) if k in self.task.branches else v
                     for k, v in raw.items()}
            fake = self.generator(*self.task.generator_inputs(batch))
        out = self.step(self.task.output_branch, "denormalize", fake)
        return out if self.latent else self.task.predict_output(out, raw)

    def step(self, branch: str, direction: str, x: Tensor) -> Tensor:
        """The ``normalize`` or ``denormalize`` of one branch's normaliser; a failure names it."""
        norm = self.normalizers[branch]
        try:
            return getattr(norm, direction)(x)  # type: ignore[no-any-return]
        except Exception as exc:
            raise GanEngineError(f"the {branch!r} normaliser ({type(norm).__name__}) cannot be exported: its "
                                 f"{direction} raised {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class Signature:
    """The inputs of a :class:`DataUnitsModel`.

    Attributes:
        keys: the batch key of each positional input (also its name in an ONNX graph).
        make: ``make(batch, height, width)`` returns random inputs of that size, in data units.
        dynamic: the dynamic axes of each input and of ``"output"``, as ``torch.onnx.export`` takes them.
        multiple: input heights and widths must be multiples of this.
    """

    keys: tuple[str, ...]
    make: Callable[[int, int, int], tuple[Tensor, ...]]
    dynamic: dict[str, dict[int, str]]
    multiple: int = 1


def input_bands(generator: nn.Module, task: Task) -> int:
    """Bands of a task's first input (the image), from the generator's input bands and what the task adds."""
    probe = {k: torch.zeros(1, 1, 1, 1) for k in task.input_keys}
    extra = task.generator_inputs(probe)[0].shape[1] - 1
    return int(getattr(generator, "in_channels", 0)) - extra


def signature_of(generator: nn.Module, task: Task, task_name: str) -> Signature:
    """The inputs of the graph of ``task`` (registered as ``task_name``) around ``generator``.

    An image task's inputs are its :attr:`~gan_engine.components.tasks.base.Task.input_keys`: the first is
    the image; further ones (inpainting's ``mask``) are one-band masks.

    Raises:
        GanEngineError: a task that declares no inputs (a plugin task without ``input_keys``).
    """
    if _is_latent(generator):
        return _latent_signature(int(getattr(task, "latent_dim", 0) or getattr(generator, "latent_dim", 0)),
                                 int(getattr(task, "num_classes", 0)))
    keys = tuple(task.input_keys)
    if not keys:
        raise GanEngineError(f"the task {task_name!r} declares no input_keys, so the inputs of its graph are "
                             "unknown; give the task input_keys, or export format='safetensors'")
    spec = {key: input_bands(generator, task) if i == 0 else 1 for i, key in enumerate(keys)}

    def images(n: int, h: int, w: int) -> tuple[Tensor, ...]:
        return tuple(torch.rand(n, c, h, w) if i == 0 else (torch.rand(n, 1, h, w) > 0.5).float()
                     for i, c in enumerate(spec.values()))

    axes = {0: "batch", 2: "height", 3: "width"}
    dynamic = {**{k: axes for k in spec}, "output": {0: "batch", 2: "out_height", 3: "out_width"}}
    return Signature(keys, images, dynamic, int(getattr(generator, "input_multiple", 1)))


def _latent_signature(latent_dim: int, classes: int) -> Signature:
    def latents(n: int, h: int, w: int) -> tuple[Tensor, ...]:
        z = torch.randn(n, latent_dim)
        return (z, torch.randint(0, classes, (n,))) if classes else (z,)

    keys = ("noise", "label") if classes else ("noise",)
    return Signature(keys, latents, {k: {0: "batch"} for k in (*keys, "output")})


def sample_inputs(signature: Signature) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """An example to trace with (batch 1, 16 px) and a probe of another batch, height and width."""
    def size(at_least: int) -> int:
        return -(-at_least // signature.multiple) * signature.multiple

    return signature.make(1, size(16), size(16)), signature.make(2, size(24), size(20))


@contextmanager
def quiet_tracing() -> Iterator[None]:
    """Silence the tracer's warnings and the deprecation of the exporters that gan_engine chose knowingly.

    Every traced graph is compared with the eager model at another input size instead.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # type: ignore[attr-defined]
        warnings.filterwarnings("ignore", message=r".*(legacy TorchScript-based ONNX|feature will be removed|"
                                                  r"is deprecated\. Please switch to)")
        yield


class _Step(nn.Module):
    """One direction of one normaliser of a model, as a module to trace on its own."""

    def __init__(self, model: DataUnitsModel, branch: str, direction: str) -> None:
        super().__init__()
        self.model, self.branch, self.direction = model, branch, direction

    def forward(self, x: Tensor) -> Tensor:
        return self.model.step(self.branch, self.direction, x)


@torch.no_grad()
def check_normalizers(model: DataUnitsModel, example: tuple[Tensor, ...], probe: tuple[Tensor, ...]) -> None:
    """Trace each normaliser ``model`` uses on its own: traced, it must compute what it computes at another size.

    Raises:
        GanEngineError: naming the normaliser that raised, or that was traced into other values
            (it reads sizes or values in Python code).
    """
    uses = [(model.task.branches[k], "normalize", x, y) for k, x, y in zip(model.keys, example, probe)
            if not model.latent and k in model.task.branches]
    out_x, out_y = model(*example), model(*probe)
    uses.append((model.task.output_branch, "denormalize", torch.rand_like(out_x), torch.rand_like(out_y)))
    for branch, direction, x, y in uses:
        step = _Step(model, branch, direction)
        name = f"the {branch!r} normaliser ({type(model.normalizers[branch]).__name__})"
        try:
            with quiet_tracing():
                traced = torch.jit.trace(step, (x,), check_trace=False)
            same = torch.allclose(traced(y), step(y), rtol=1e-5, atol=1e-6)
        except GanEngineError:
            raise
        except Exception as exc:
            raise GanEngineError(f"{name} cannot be traced: its {direction} failed while being traced "
                                 f"({type(exc).__name__}: {exc})") from exc
        if not same:
            raise GanEngineError(f"{name} cannot be traced: once traced, its {direction} gives other values on an "
                                 "input of another size, so it depends on the size or the values it saw through "
                                 "Python code (an `if` on a tensor, `.item()`, a loop); write it with tensor "
                                 "operations, or export format='safetensors'")
