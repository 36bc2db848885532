"""Training curves of one or several runs, drawn from their files with matplotlib (imported on use).

Panels, against iterations: the generator's losses (content terms, adversarial, total), the
discriminator's (adversarial, R1, gradient penalty), the adversarial weight and the learning
rates, and the validation metrics, one panel each for ``val/psnr`` and ``val/ssim`` (with the
bicubic baselines of super-resolution as dashed reference lines) and one for the rest.
Only the object-oriented API is used (no ``pyplot`` state), so drawing in a background thread
while training runs is safe.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the catalog imports this module when a run is plotted
    from gan_engine.run.catalog import RunView

__all__ = ["plot_curves", "save_figure"]

_GENERATOR = ("train/content/", "train/g_adversarial", "train/g_total", "train/feature_matching")
_DISCRIMINATOR = ("train/d_adversarial", "train/r1", "train/gradient_penalty")
_SCHEDULES = ("train/adv_weight", "lr/")


def plot_curves(runs: Sequence[RunView]) -> Any:
    """A ``matplotlib.figure.Figure`` of the curves of ``runs`` (overlaid, one colour per run)."""
    from matplotlib.figure import Figure

    val_keys = sorted({k for run in runs for r in run.history for k in r if k.startswith("val")
                       and not k.endswith("_bicubic")})
    extra_val = [k for k in val_keys if k not in ("val/psnr", "val/ssim")]
    panels: list[tuple[str, Any]] = [("generator losses", _GENERATOR), ("discriminator losses", _DISCRIMINATOR),
                                     ("adversarial weight and learning rates", _SCHEDULES)]
    panels += [(key, key) for key in ("val/psnr", "val/ssim") if key in val_keys]
    if extra_val:
        panels.append(("other validation metrics", tuple(extra_val)))
    columns = 2
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(6.0 * columns, 3.4 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for ax, (title, keys) in zip(axes, panels):
        ax.set_title(title)
        ax.set_xlabel("iteration")
        drawn = False
        for run, colour in zip(runs, colours):
            prefix = f"{run.info.name}: " if len(runs) > 1 else ""
            if isinstance(keys, str):  # one validation metric, with its bicubic baseline
                drawn |= _line(ax, run.history, keys, colour, f"{prefix}{keys}", marker="o")
                drawn |= _line(ax, run.history, f"{keys}_bicubic", colour, f"{prefix}bicubic", linestyle="--")
                continue
            source = run.history if keys and str(keys[0]).startswith("val") else run.training_history()
            names = sorted({k for r in source for k in r if k.startswith(keys)})
            for i, name in enumerate(names):
                drawn |= _line(ax, source, name, colour, f"{prefix}{name}", linestyle=("-", "--", ":", "-.")[i % 4],
                               marker="o" if source is run.history else None)
        if title.startswith("adversarial weight") and drawn:
            ax.set_yscale("log")
        if drawn:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, "nothing recorded yet", ha="center", va="center", transform=ax.transAxes)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    figure.suptitle("training curves: " + ", ".join(run.info.name for run in runs))
    return figure


def _line(ax: Any, records: list[dict[str, Any]], key: str, colour: str, label: str, **style: Any) -> bool:
    points = [(r["iteration"], r[key]) for r in records if isinstance(r.get(key), (int, float))
              and isinstance(r.get("iteration"), (int, float))]
    if key.startswith(("train/adv_weight", "lr/")):
        points = [(x, y) for x, y in points if y > 0]  # a log axis
    if not points:
        return False
    xs, ys = zip(*points)
    ax.plot(xs, ys, color=colour, label=label, linewidth=1.2, markersize=3, **style)
    return True


def save_figure(figure: Any, path: str | Path, dpi: int = 100) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically (a reader never sees half a file)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            figure.savefig(fh, format="png", dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
