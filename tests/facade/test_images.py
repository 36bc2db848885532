"""Image panels: any band count, deterministic band choice, shared stretch, PNG output."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from PIL import Image

import gan_engine as ge
from gan_engine.components.callbacks.images import ImagePanels, choose_bands, make_panel, stretch


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 6])
def test_a_panel_is_drawn_for_any_band_count(channels: int) -> None:
    lr, sr, hr = torch.rand(3, channels, 8, 8), torch.rand(3, channels, 32, 32), torch.rand(3, channels, 32, 32)
    panel = make_panel([lr, sr, hr], max_rows=2, padding=2)
    # 2 rows and 3 columns of 32x32 tiles with 2 px of padding around and between them
    assert panel.shape == (3, 2 * 32 + 3 * 2, 3 * 32 + 4 * 2)
    assert panel.min() >= 0 and panel.max() <= 1


def test_band_choice_is_deterministic_and_configurable() -> None:
    assert choose_bands(1) == [0] and choose_bands(2) == [0]
    assert choose_bands(4) == [0, 1, 2] == choose_bands(13)
    assert choose_bands(4, [2, 1, 0]) == [2, 1, 0]
    with pytest.raises(ge.ShapeError, match=r"3 \(or 1\) indices of the 4 bands.*got \[0, 1, 7\]"):
        choose_bands(4, [0, 1, 7])


def test_chosen_bands_land_in_red_green_blue() -> None:
    hr = torch.zeros(1, 4, 4, 4)
    hr[:, 3] = torch.linspace(0, 1, 16).view(4, 4)  # only band 3 varies
    panel = make_panel([hr], rgb_bands=[3, 0, 0], percentiles=(0, 100), padding=0)
    assert torch.allclose(panel[0], hr[0, 3]) and panel[1:].abs().max() == 0


def test_stretch_uses_the_reference_percentiles_for_every_column() -> None:
    ref = torch.linspace(0.2, 0.4, 100).view(1, 1, 10, 10)
    out = stretch(ref * 2, ref, (0, 100))  # twice as bright as the reference: clipped at 1
    assert torch.allclose(stretch(ref, ref, (0, 100)).flatten()[[0, -1]], torch.tensor([0.0, 1.0]))
    assert out.max() == 1 and out.min() == 1
    flat = stretch(torch.full((1, 1, 4, 4), 0.3), torch.full((1, 1, 4, 4), 0.3))  # constant band: no NaN
    assert torch.isfinite(flat).all()
    assert torch.isfinite(stretch(torch.tensor([[[[float("nan")]]]]), torch.zeros(1, 1, 1, 1))).all()


class _Module:
    """The parts of a GANModule the panels use: a task with panels and the denormalisers."""

    def __init__(self, columns: list[torch.Tensor]) -> None:
        named = {f"c{i}": c for i, c in enumerate(columns)}
        self.task = SimpleNamespace(output_branch="hr", panels=lambda fake, batch: named)
        self.denormalized = 0

    def denormalize(self, x: torch.Tensor, branch: str) -> torch.Tensor:
        self.denormalized += 1
        return x

    def denormalize_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        return batch


OUTPUTS = {"fake": torch.rand(4, 1, 2, 2), "batch": {"lr": torch.rand(4, 1, 1, 1)}}


def test_the_callback_writes_png_panels_when_the_logger_keeps_no_images(tmp_path: Path) -> None:
    cb = ImagePanels(tmp_path / "images", every_n_steps=5, num_images=2)
    trainer = SimpleNamespace(loggers=[SimpleNamespace(experiment=object())], sanity_checking=False,
                              lightning_module=SimpleNamespace(iteration=10), global_step=20)
    module = _Module([torch.rand(4, 6, 4, 4), torch.rand(4, 6, 16, 16), torch.rand(4, 6, 16, 16)])
    assert cb.should_draw(10) and not cb.should_draw(11) and not cb.should_draw(0)
    cb.on_train_batch_end(trainer, module, OUTPUTS, None, 0)  # type: ignore[arg-type]
    cb.on_validation_batch_end(trainer, module, OUTPUTS, None, 0)  # type: ignore[arg-type]
    files = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert files == ["train-iter0000010.png", "val-iter0000010.png"]
    assert Image.open(tmp_path / "images" / files[1]).size == (3 * 16 + 4 * 2, 2 * 16 + 3 * 2)
    assert module.denormalized == 2  # data units, not network units
    cb.on_train_batch_end(trainer, module, {}, None, 0)  # an accumulating batch: nothing to draw, no error


def test_the_callback_sends_panels_to_a_logger_that_keeps_images(tmp_path: Path) -> None:
    seen: list[tuple[str, tuple[int, ...], int]] = []
    writer = SimpleNamespace(add_image=lambda tag, img, global_step: seen.append((tag, tuple(img.shape), global_step)))
    trainer = SimpleNamespace(loggers=[SimpleNamespace(experiment=writer)], sanity_checking=False,
                              lightning_module=SimpleNamespace(iteration=3), global_step=6)
    cb = ImagePanels(tmp_path / "images", every_n_steps=0)
    cb.on_validation_batch_end(trainer, _Module([torch.rand(2, 3, 8, 8)]), OUTPUTS, None, 0)  # type: ignore[arg-type]
    assert seen == [("images/val", (3, 2 * 8 + 3 * 2, 8 + 2 * 2), 3)]
    assert not (tmp_path / "images").exists()


def test_columns_with_other_band_counts_get_their_own_bands_and_stretch() -> None:
    # image-to-image: a 4-band input, 3-band output and target; inpainting: a 1-band mask
    inp, out, target = torch.rand(2, 4, 8, 8), torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    mask = (torch.rand(2, 1, 8, 8) > 0.5).float()
    panel = make_panel([inp, mask, out, target], padding=0)
    assert panel.shape == (3, 16, 32)
    assert torch.equal(panel[0, :8, 8:16], panel[1, :8, 8:16])  # the mask is grey
    with pytest.raises(ge.ShapeError, match="same N"):
        make_panel([torch.rand(2, 3, 8, 8), torch.rand(3, 3, 8, 8)])
