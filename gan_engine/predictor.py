"""Use a trained model: data units in, data units out, on inputs of any size.

:func:`load_predictor` rebuilds the generator (EMA weights by default), the run's
normalisers and its task from a checkpoint alone. A :class:`Predictor` takes ``(C, H, W)``
or ``(N, C, H, W)`` tensors or NumPy arrays in the units of the training data and returns the
output in the same units and type; with ``tile=`` it runs on overlapping tiles blended without
seams (:mod:`gan_engine.tiling`), so memory follows the tile size, not the image size.

Example:
    >>> predictor = ge.load_predictor("runs/quickstart/checkpoints/last.ckpt")  # doctest: +SKIP
    >>> sr = predictor(lr_scene, tile=256)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_engine.components.normalizers.base import Normalizer
from gan_engine.components.tasks.base import Task
from gan_engine.data_units import DataUnitsModel, input_bands
from gan_engine.errors import GanEngineError, ShapeError
from gan_engine.tiling import TensorAccumulator, TileGrid, progress_bar, run_tiled, tile_inputs

__all__ = ["Predictor", "load_predictor"]

Precision = Literal["32", "16", "bf16"]
_AUTOCAST = {"16": torch.float16, "bf16": torch.bfloat16}


class Predictor:
    """A generator with its normalisers and task, ready to predict in data units.

    Args:
        generator: the trained generator (moved to ``device``, eval mode).
        normalizers: the run's normaliser per branch (``lr``, ``hr``, ``cond``).
        task: the run's task (it says which inputs the generator takes).
        device: where the network runs; default: CUDA when available, else the CPU.
        precision: ``"32"``, or ``"16"`` / ``"bf16"`` autocast.
        value_scale: raw file values per data unit, for :meth:`predict_file`; default: by dtype.
    """

    def __init__(self, generator: nn.Module, normalizers: Mapping[str, Normalizer], task: Task, *,
                 device: str | torch.device | None = None, precision: Precision | str | None = None,
                 value_scale: float | None = None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.precision = str(precision or "32")
        if self.precision not in ("32", *_AUTOCAST):
            raise GanEngineError(f"precision must be '32', '16' or 'bf16', got {precision!r}")
        self.generator = generator.to(self.device).eval()
        self.normalizers = {k: n.to(self.device).eval() for k, n in normalizers.items()}
        self.task = task
        latent = getattr(generator, "input_kind", "image") == "latent"
        keys = (("noise", "label") if getattr(task, "num_classes", 0) else ("noise",)) if latent else task.input_keys
        self.model = DataUnitsModel(self.generator, self.normalizers, task, tuple(keys)).eval()
        #: raw file values per data unit (the run's ``Data.value_scale``); ``None``: by dtype
        self.value_scale = value_scale

    # -- what the model is -----------------------------------------------------------
    @property
    def scale(self) -> int:
        """Output size / input size."""
        return int(getattr(self.task, "scale", 1))

    @property
    def in_channels(self) -> int:
        """Bands of the generator's input (for inpainting: the image's bands plus the mask)."""
        return int(_attr(self.generator, "in_channels"))

    @property
    def out_channels(self) -> int:
        """Bands of the output."""
        return int(_attr(self.generator, "out_channels"))

    @property
    def input_bands(self) -> int:
        """Bands of the input image (for inpainting: without the mask the task adds)."""
        return input_bands(self.generator, self.task)

    @property
    def receptive_field(self) -> int | None:
        """Input pixels one output pixel depends on, as the generator declares it."""
        rf = getattr(self.generator, "receptive_field", None)
        return None if rf is None else int(rf)

    def default_overlap(self) -> int:
        """Twice the receptive radius plus a blending band: tiles then agree with the whole image."""
        rf = self.receptive_field
        return 32 if rf is None else 2 * math.ceil(rf / 2) + 8

    # -- running -----------------------------------------------------------------------
    @torch.no_grad()
    def run(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """The prediction for a batch of inputs ``{key: (N, C, H, W)}`` in data units (on the device).

        The computation is :class:`~gan_engine.data_units.DataUnitsModel`, the graph the exports
        hold; here inputs are first padded to the generator's ``input_multiple`` and the output
        cropped back.
        """
        batch = {k: v.to(self.device, torch.float32 if v.is_floating_point() else v.dtype) for k, v in inputs.items()}
        multiple = int(getattr(self.generator, "input_multiple", 1))
        padded = {k: _pad_to(v, multiple) if v.ndim == 4 else v for k, v in batch.items()}
        autocast = (torch.autocast(self.device.type, dtype=_AUTOCAST[self.precision])
                    if self.precision in _AUTOCAST else nullcontext())
        with autocast:
            out = self.model(*(padded[k] for k in self.model.keys)).float()
        images = [v for v in batch.values() if v.ndim == 4]
        if images:  # undo the padding
            height, width = images[0].shape[-2:]
            out = out[..., : height * self.scale, : width * self.scale]
        return out

    def __call__(self, x: Tensor | np.ndarray, mask: Tensor | np.ndarray | None = None, *, tile: int | None = None,
                 overlap: int | None = None, batch_size: int = 8, progress: bool = False) -> Tensor | np.ndarray:
        """Predict from ``x`` (``(C, H, W)`` or ``(N, C, H, W)``, tensor or array, data units).

        Args:
            x: the input image(s): LR for super-resolution, the source for image-to-image,
                the image for inpainting.
            mask: inpainting only: ``(1, H, W)`` / ``(N, 1, H, W)`` hole mask (1 = fill).
            tile: run on tiles of this many input pixels (blended); default: the whole image.
            overlap: input pixels shared by neighbouring tiles; default: twice the
                generator's receptive radius plus 8.
            batch_size: images (untiled) or tiles (tiled) per forward pass.
            progress: show a progress bar over tiles.

        Returns:
            The output in data units, with ``x``'s type (tensor or array) and rank.
        """
        inputs, as_array, single = self._inputs(x, mask)
        if tile is None:
            n = next(iter(inputs.values())).shape[0]
            out = torch.cat([self.run({k: v[i:i + batch_size] for k, v in inputs.items()}).cpu()
                             for i in range(0, n, batch_size)])
        else:
            out = torch.stack([self._tiled({k: v[i] for k, v in inputs.items()}, tile, overlap, batch_size, progress)
                               for i in range(next(iter(inputs.values())).shape[0])])
        out = out[0] if single else out
        return out.numpy() if as_array else out

    def predict_file(self, src: str | os.PathLike[str], dst: str | os.PathLike[str], *, tile: int = 512,
                     overlap: int | None = None, batch_size: int = 8, progress: bool = False) -> Path:
        """Predict an image file into ``dst`` (PNG, JPEG, TIFF, ``.npy``/``.npz``, GeoTIFF), tile by tile.

        See :func:`gan_engine.predict_files.predict_file`: windowed reads and writes, values in
        the file's own units and dtype, georeferencing kept, ``dst`` renamed into place when complete.
        """
        from gan_engine.predict_files import predict_file

        return predict_file(self, src, dst, tile=tile, overlap=overlap, batch_size=batch_size, progress=progress)

    def predict_folder(self, src: str | os.PathLike[str], dst: str | os.PathLike[str], **kwargs: Any) -> list[Path]:
        """Predict every image under ``src`` into ``dst`` (same relative paths); every file is checked first."""
        from gan_engine.predict_files import predict_folder

        return predict_folder(self, src, dst, **kwargs)

    def sample(self, n: int = 1, labels: Tensor | np.ndarray | list[int] | None = None,
               seed: int | None = None) -> Tensor:
        """``n`` generated images (synthesis), with class ``labels`` for a class-conditional model."""
        if not hasattr(self.task, "latent_dim"):
            raise GanEngineError(f"sample() is for synthesis models; this one ({type(self.task).__name__}) "
                                 "predicts from an input image: call predictor(x)")
        g = None if seed is None else torch.Generator().manual_seed(seed)
        noise = torch.randn(n, int(self.task.latent_dim), generator=g)
        batch: dict[str, Tensor] = {"noise": noise}
        if labels is not None:
            batch["label"] = torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(n)
        return self.run({k: v for k, v in self.task.prepare_inputs(batch).items() if k in self.model.keys}).cpu()

    def _inputs(self, x: Any, mask: Any) -> tuple[dict[str, Tensor], bool, bool]:
        keys = self.task.input_keys
        if not keys or keys == ("label",) or hasattr(self.task, "latent_dim"):
            raise GanEngineError("this model generates from noise: call predictor.sample(n, labels=...)")
        as_array = isinstance(x, np.ndarray)
        first = _as_tensor(x, keys[0])
        single = first.ndim == 3
        raw: dict[str, Any] = {keys[0]: first[None] if single else first}
        if len(keys) > 1:
            if mask is None:
                raise GanEngineError(f"this model also needs {', '.join(map(repr, keys[1:]))}: pass mask=...")
            m = _as_tensor(mask, keys[1])
            raw[keys[1]] = m[None] if single else m
        inputs = self.task.prepare_inputs(raw)
        self._check_bands(inputs)
        return inputs, as_array, single

    def _check_bands(self, inputs: Mapping[str, Tensor]) -> None:
        key = self.task.input_keys[0]
        given, expected = inputs[key].shape[1], self.input_bands
        if given != expected:
            raise ShapeError(f"the input {key!r} has {given} bands, but this model takes {expected} (the band "
                             "count it was trained on)")

    def _tiled(self, inputs: dict[str, Tensor], tile: int, overlap: int | None, batch_size: int,
               progress: bool) -> Tensor:
        height, width = next(iter(inputs.values())).shape[-2:]
        grid = self.grid(height, width, tile, overlap)
        acc = TensorAccumulator(self.out_channels, height * self.scale, width * self.scale)
        with progress_bar(len(grid), progress) as bar:
            run_tiled(self.run, tile_inputs(inputs), grid, acc, batch_size, bar.update)
        return acc.result()

    def grid(self, height: int, width: int, tile: int, overlap: int | None = None) -> TileGrid:
        """The tile layout for an ``(H, W)`` input (checks ``tile`` and ``overlap``)."""
        multiple = int(getattr(self.generator, "input_multiple", 1))
        overlap = min(self.default_overlap(), tile // 2) if overlap is None else overlap
        if tile < 1 or overlap < 0 or overlap >= tile:
            raise GanEngineError(f"need tile ≥ 1 and 0 ≤ overlap < tile; got tile={tile}, overlap={overlap}")
        tile = max(multiple, tile - tile % multiple)
        rf = self.receptive_field
        radius = math.ceil(rf / 2) if rf is not None else overlap // 2
        if 2 * radius > overlap and tile < max(height, width):
            warnings.warn(f"overlap={overlap} is less than twice the generator's receptive radius ({radius} input "
                          f"pixels): tiles cannot match the whole-image result, and seams may show; use "
                          f"overlap ≥ {2 * radius}", UserWarning, stacklevel=3)
        return TileGrid(height, width, tile, min(overlap, tile - 1), self.scale, margin=radius)


def _attr(obj: object, name: str) -> Any:
    """A metadata attribute every generator declares (a plugin's too), with a clear error when it does not."""
    if not hasattr(obj, name):
        raise GanEngineError(f"the generator {type(obj).__name__} declares no {name!r}; add it as an attribute")
    return getattr(obj, name)


def _pad_to(x: Tensor, multiple: int) -> Tensor:
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if not ph and not pw:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _as_tensor(x: Any, key: str) -> Tensor:
    if isinstance(x, Tensor):
        t = x
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    else:
        raise ShapeError(f"{key!r} must be a tensor or a NumPy array, got {type(x).__name__}")
    if t.ndim not in (3, 4):
        raise ShapeError(f"{key!r} must be (C, H, W) or (N, C, H, W); got shape {tuple(t.shape)}")
    return t.float()


def load_predictor(checkpoint: str | os.PathLike[str], device: str | torch.device | None = None,
                   precision: Precision | str | None = None, ema: bool = True) -> Predictor:
    """A :class:`Predictor` from a checkpoint alone (generator, normalisers and task from its stored config).

    Args:
        checkpoint: a ``.ckpt`` written by gan_engine training (or a safetensors export).
        device: where to run; default: CUDA when available, else the CPU.
        precision: ``"32"`` (default), ``"16"`` or ``"bf16"``.
        ema: use the EMA weights when the checkpoint has them (default).

    Raises:
        CheckpointError: missing, corrupt or foreign file, or weights that do not fit its config.
    """
    from gan_engine.inference import _read, generator_of, normalizers_of, task_of

    ckpt = _read(checkpoint, "cpu")
    value_scale = (ckpt["gan_engine"]["config"].get("Data") or {}).get("value_scale")
    return Predictor(generator_of(ckpt, checkpoint, ema=ema), normalizers_of(ckpt, checkpoint),
                     task_of(ckpt, checkpoint), device=device, precision=precision, value_scale=value_scale)
