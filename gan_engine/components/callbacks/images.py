"""Image panels: input | output | target side by side (LR | SR | HR for super-resolution).

The pure functions (:func:`choose_bands`, :func:`stretch`, :func:`make_panel`) turn
multi-band tensors into a displayable RGB grid; :class:`ImagePanels` draws one from the
training outputs every few iterations and from the first validation batch, and sends it
to the logger (TensorBoard and W&B keep images) or to PNG files in the run's ``images/``.
Which columns a panel has is the task's choice (``Task.panels``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor
from typing_extensions import override

from gan_engine.components.callbacks._common import is_due, iteration_of
from gan_engine.errors import ShapeError
from gan_engine.registry import callbacks

__all__ = ["ImagePanels", "choose_bands", "make_panel", "stretch"]

log = logging.getLogger("gan_engine")


def choose_bands(channels: int, rgb_bands: Sequence[int] | None = None) -> list[int]:
    """The band indices drawn as red, green and blue, or a single grey band.

    Args:
        channels: number of bands ``C`` of the images.
        rgb_bands: explicit choice (3 indices, or 1 for grey); default: bands 0, 1, 2 when
            ``C ≥ 3``, else band 0 in grey.

    Raises:
        ShapeError: when an explicit index is not a band of the images.
    """
    if rgb_bands is None:
        return [0, 1, 2] if channels >= 3 else [0]
    bands = [int(b) for b in rgb_bands]
    if len(bands) not in (1, 3) or any(not 0 <= b < channels for b in bands):
        raise ShapeError(f"Logging.rgb_bands must hold 3 (or 1) indices of the {channels} bands "
                         f"(0..{channels - 1}), got {list(rgb_bands)}; fix Logging.rgb_bands")
    return bands


def stretch(images: Tensor, reference: Tensor, percentiles: Sequence[float] = (2.0, 98.0)) -> Tensor:
    """Map each band of ``images`` linearly so that the percentiles of ``reference`` become 0 and 1.

    Using the same limits for every column keeps brightness comparable between them.

    Args:
        images: ``(N, C, H, W)`` images to stretch.
        reference: ``(N, C, h, w)`` images whose per-sample, per-band percentiles set the limits.
        percentiles: lower and upper percentile, in [0, 100].

    Returns:
        ``(N, C, H, W)`` in [0, 1]; non-finite values become 0.
    """
    flat = reference.detach().float().flatten(2)
    q = torch.tensor([percentiles[0] / 100.0, percentiles[1] / 100.0], dtype=flat.dtype, device=flat.device)
    lo, hi = torch.quantile(flat, q, dim=-1)  # each (N, C)
    span = hi - lo
    span = torch.where(span > 1e-8, span, torch.ones_like(span))
    out = (images.detach().float() - lo[..., None, None]) / span[..., None, None]
    return torch.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1)


def make_panel(columns: Sequence[Tensor], *, reference: int = -1, rgb_bands: Sequence[int] | None = None,
               percentiles: Sequence[float] | None = (2.0, 98.0), max_rows: int = 4, padding: int = 2) -> Tensor:
    """Lay out image columns side by side, one row per sample, as one RGB image.

    Args:
        columns: ``(N, C_k, H_k, W_k)`` tensors with the same ``N``. Smaller ones (a
            low-resolution input) are enlarged to the largest size by pixel repetition.
            Columns with the reference's band count show ``rgb_bands`` with the reference's
            stretch; others (a mask, an input with other bands) their default bands, each
            with its own stretch.
        reference: index of the column whose percentiles stretch its peers (the target).
        rgb_bands: bands shown as red, green, blue; see :func:`choose_bands`.
        percentiles: see :func:`stretch`; ``None`` shows values as they are, clipped to [0, 1].
        max_rows: at most this many samples.
        padding: pixels of white between tiles.

    Returns:
        ``(3, H', W')`` float tensor in [0, 1] (CHW, as TensorBoard expects).
    """
    if not columns or any(c.ndim != 4 or c.shape[0] != columns[0].shape[0] for c in columns):
        raise ShapeError("make_panel needs (N, C, H, W) columns with the same N, got "
                         f"{[tuple(c.shape) for c in columns]}")
    rows = min(columns[0].shape[0], max_rows)
    size = (max(c.shape[-2] for c in columns), max(c.shape[-1] for c in columns))
    ref = columns[reference]
    ref_bands = choose_bands(ref.shape[1], rgb_bands)
    tiles = []
    for col in columns:
        peer = col.shape[1] == ref.shape[1]
        bands = ref_bands if peer else choose_bands(col.shape[1])
        img = (col[:rows, bands].detach().float().clamp(0, 1) if percentiles is None
               else stretch(col[:rows, bands], (ref if peer else col)[:rows, bands], percentiles))
        if img.shape[-2:] != size:
            img = F.interpolate(img, size=size, mode="nearest")
        tiles.append(img.expand(-1, 3, -1, -1) if len(bands) == 1 else img)
    grid = torch.stack(tiles, dim=1).flatten(0, 1).cpu()  # sample-major: row i holds sample i
    from torchvision.utils import make_grid

    panel: Tensor = make_grid(grid, nrow=len(columns), padding=padding, pad_value=1.0)
    return panel


@callbacks.register("image_panels")
class ImagePanels(L.Callback):
    """Draw the task's image columns during training and at each validation.

    Reads the ``fake`` and ``batch`` entries of the module's step outputs, denormalises
    them (``GANModule.denormalize``) and asks the task for the columns (``Task.panels``):
    LR (bicubic) | SR | HR for super-resolution. Rows are the first ``num_images`` samples.

    Args:
        directory: folder for PNG files, used when no logger keeps images.
        every_n_steps: draw from the training outputs every n iterations; 0 only at validation.
        num_images: samples (rows) per panel.
        rgb_bands: bands drawn as red, green, blue (see :func:`choose_bands`).
        stretch_percentiles: per-band percentile stretch (see :func:`stretch`).
        denormalize: undo the normalisers first (show data units rather than network units).
    """

    def __init__(self, directory: str | Path = "images", every_n_steps: int = 500, num_images: int = 4,
                 rgb_bands: Sequence[int] | None = None, stretch_percentiles: Sequence[float] = (2.0, 98.0),
                 denormalize: bool = True) -> None:
        self.directory = Path(directory)
        self.denormalize = denormalize
        self.every_n_steps = every_n_steps
        self.num_images = num_images
        self.rgb_bands = list(rgb_bands) if rgb_bands is not None else None
        self.percentiles = tuple(stretch_percentiles)
        self.last_panel: Tensor | None = None
        self.last_path: Path | None = None

    def should_draw(self, iteration: int) -> bool:
        """Whether the training iteration ``iteration`` (1-based, just completed) gets a panel."""
        return is_due(iteration, self.every_n_steps)

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        iteration = iteration_of(trainer)
        if self.should_draw(iteration):
            self.draw(trainer, pl_module, outputs, "train", iteration)

    @override
    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if batch_idx == 0 and dataloader_idx == 0 and not trainer.sanity_checking:
            self.draw(trainer, pl_module, outputs, "val", iteration_of(trainer))

    @rank_zero_only
    def draw(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, stage: str,
             iteration: int) -> None:
        """Build the panel of ``outputs`` and send it to the logger or to a PNG file."""
        with torch.no_grad():
            columns = panel_columns(pl_module, outputs, self.num_images, self.denormalize)
            if not columns:
                return
            panel = make_panel(list(columns.values()), rgb_bands=self.rgb_bands, percentiles=self.percentiles,
                               max_rows=self.num_images)
        self.last_panel = panel
        self._emit(trainer, f"images/{stage}", panel, iteration, " | ".join(columns))

    def _emit(self, trainer: L.Trainer, tag: str, panel: Tensor, iteration: int, caption: str) -> None:
        for logger in trainer.loggers:
            experiment: Any = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_image"):  # TensorBoard's SummaryWriter
                experiment.add_image(tag, panel, global_step=iteration)
                return
            if hasattr(logger, "log_image"):  # Weights & Biases
                image = (panel.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
                logger.log_image(key=tag, images=[image], caption=[f"{caption}, iteration {iteration}"])
                return
        from torchvision.utils import save_image

        self.directory.mkdir(parents=True, exist_ok=True)
        self.last_path = self.directory / f"{tag.split('/')[-1]}-iter{iteration:07d}.png"
        save_image(panel, self.last_path)
        log.info("image panel (%s) written to %s", caption, self.last_path)


def panel_columns(module: Any, outputs: Any, rows: int, denormalize: bool = True) -> dict[str, Tensor]:
    """The named panel columns of a step's outputs (``{"fake": ..., "batch": ...}``), first ``rows`` samples.

    Returns an empty dict when the outputs hold no generated image (an accumulating batch).
    """
    if not isinstance(outputs, Mapping):
        return {}
    fake, batch = outputs.get("fake"), outputs.get("batch")
    if not isinstance(fake, Tensor) or not isinstance(batch, Mapping):
        return {}
    fake = fake[:rows].detach()
    batch = {k: v[:rows].detach() if isinstance(v, Tensor) else v for k, v in batch.items()}
    if denormalize:
        fake = module.denormalize(fake, module.task.output_branch)
        batch = module.denormalize_batch(batch)
    columns: dict[str, Tensor] = module.task.panels(fake, batch)
    return columns
