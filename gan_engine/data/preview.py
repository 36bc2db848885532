"""What the generator is trained on: a picture of a config's batches, degradations included.

``gan-engine data preview CONFIG --output DIR`` (or :func:`preview`) builds the config's
data module, takes the first batches of a split exactly as training would (the same seeded
crops and degradation parameters, the data module's batch hooks on the CPU) and writes a
grid: one row per sample, one column per image of the batch. For super-resolution the
columns are the HR crop, the LR input the degradation made, and, for comparison, the plain
antialiased bicubic downsampling of the same crop.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_engine.config import Config, load_config
from gan_engine.errors import DataError

__all__ = ["preview", "preview_columns"]


def preview_columns(batch: dict[str, Any], scale: int | None) -> dict[str, Tensor]:
    """The image columns of a transferred batch: every ``(N, C, H, W)`` tensor, plus bicubic LR for SR."""
    columns = {k: v.float() for k, v in batch.items() if isinstance(v, Tensor) and v.ndim == 4}
    if "hr" in columns and "lr" in columns:
        hr = columns["hr"]
        factor = scale or hr.shape[-1] // columns["lr"].shape[-1]
        bicubic = F.interpolate(hr, size=(hr.shape[-2] // factor, hr.shape[-1] // factor), mode="bicubic",
                                antialias=True, align_corners=False)
        columns = {"hr": hr, "lr": columns["lr"], "lr (bicubic)": bicubic,
                   **{k: v for k, v in columns.items() if k not in ("hr", "lr")}}
    if not columns:
        raise DataError(f"the batches hold no (N, C, H, W) images to preview (keys: {sorted(batch)})")
    return columns


def preview(config: Config | str | os.PathLike[str], output: str | os.PathLike[str], *,
            split: Literal["train", "val"] = "train", rows: int = 8, overrides: Sequence[str] = (),
            stretch: bool = True) -> Path:
    """Write ``<output>/preview-<split>.png``: ``rows`` samples of the config's data, as training sees them.

    Args:
        config: a config or the path of a YAML file.
        output: folder of the picture (created).
        split: the training batches (random crops, training degradations) or the validation ones.
        rows: samples shown.
        overrides: ``KEY=VALUE`` config overrides.
        stretch: stretch each band as the image panels do (``Logging.stretch_percentiles``);
            ``False`` shows values in [0, 1] as they are (8-bit photographs).

    Returns:
        The path of the PNG.
    """
    from torchvision.utils import save_image

    from gan_engine.components.callbacks.images import make_panel
    from gan_engine.registry import datamodules

    cfg = load_config(config, list(overrides))
    dm = datamodules.build(cfg.Data.name, **cfg.Data.kwargs())
    dm.setup("fit")
    loader = dm.train_dataloader() if split == "train" else dm.val_dataloader()
    collected: dict[str, list[Tensor]] = {}
    count = 0
    for raw in loader:
        batch = dm.on_after_batch_transfer(dm.on_before_batch_transfer(raw, 0), 0)
        for name, images in preview_columns(batch, cfg.Data.params.get("scale")).items():
            collected.setdefault(name, []).append(images)
        count += next(iter(collected.values()))[-1].shape[0]
        if count >= rows:
            break
    if not collected:
        raise DataError(f"the {split} split of {cfg.Data.name!r} yielded no batch to preview")
    columns = [torch.cat(v)[:rows] for v in collected.values()]
    names = list(collected)
    reference = names.index("hr") if "hr" in names else -1
    panel = make_panel(columns, reference=reference, rgb_bands=cfg.Logging.rgb_bands,
                       percentiles=cfg.Logging.stretch_percentiles if stretch else None, max_rows=rows)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"preview-{split}.png"
    save_image(panel, path)
    (out / f"preview-{split}.txt").write_text("columns: " + " | ".join(names) + "\n", encoding="utf-8")
    return path
