"""Predicting from inputs alone: predict_step, load_predictor in data units, tiled inference without seams."""

from __future__ import annotations

import itertools
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

import gan_engine as ge
from facade.conftest import tiny_overrides
from gan_engine.tiling import TileGrid, tile_starts

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"


@pytest.fixture(scope="module")
def sr_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ×4 run with a z-score normaliser on 4 bands in digital numbers (0..10000): data units matter."""
    root = tmp_path_factory.mktemp("sr")
    overrides = [*tiny_overrides(root, steps=3), "Normalization.name=zscore", "Data.bands=4", "Generator.n_blocks=2"]
    result = ge.fit(None, overrides=overrides)
    assert result.last_checkpoint is not None
    return Path(result.last_checkpoint)


class _Batches:
    """An iterable of ready-made batches (a list would be read as several data loaders)."""

    def __init__(self, *batches: object) -> None:
        self.batches = batches

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.batches)


def test_predict_step_needs_only_the_input(sr_checkpoint: Path) -> None:
    module = ge.GANModule.load_from_checkpoint(sr_checkpoint, map_location="cpu")
    lr = torch.rand(2, 4, 8, 8)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    out = trainer.predict(module, _Batches({"lr": lr}, lr))  # a mapping with only the input, or a bare tensor
    assert out is not None and [tuple(o.shape) for o in out] == [(2, 4, 32, 32)] * 2  # type: ignore[union-attr]
    assert torch.allclose(out[0], out[1])  # type: ignore[index]


def test_the_predictor_works_in_data_units_with_the_runs_normalisers(sr_checkpoint: Path) -> None:
    predictor = ge.load_predictor(sr_checkpoint, device="cpu")
    assert (predictor.scale, predictor.in_channels, predictor.out_channels) == (4, 4, 4)
    generator = ge.load_generator(sr_checkpoint)
    norms = {k: v for k, v in ge.load_predictor(sr_checkpoint, device="cpu").normalizers.items()}
    x = torch.rand(1, 4, 12, 10) * 3000
    with torch.no_grad():
        by_hand = norms["hr"].denormalize(generator(norms["lr"].normalize(x)))
    torch.testing.assert_close(predictor(x), by_hand)
    array = predictor(x[0].numpy())
    assert isinstance(array, np.ndarray) and array.shape == (4, 48, 40) and array.dtype == np.float32
    np.testing.assert_allclose(array, by_hand[0].numpy(), rtol=1e-5, atol=1e-3)


def test_a_wrong_band_count_is_named(sr_checkpoint: Path) -> None:
    predictor = ge.load_predictor(sr_checkpoint, device="cpu")
    with pytest.raises(ge.ShapeError, match="'lr' has 3 bands, but this model takes 4"):
        predictor(torch.rand(3, 8, 8))
    with pytest.raises(ge.ShapeError, match=r"\(C, H, W\) or \(N, C, H, W\)"):
        predictor(torch.rand(8, 8))


def test_tiled_equals_untiled_and_shows_no_seam(sr_checkpoint: Path) -> None:
    predictor = ge.load_predictor(sr_checkpoint, device="cpu")
    x = torch.rand(4, 75, 61) * 3000
    whole = predictor(x)
    overlap = predictor.default_overlap()
    tiled = predictor(x, tile=overlap + 6, overlap=overlap, batch_size=3)
    grid = predictor.grid(75, 61, overlap + 6, overlap)
    assert len(grid.rows) > 1 and len(grid.cols) > 1, "the test must cut the image into several tiles"
    diff = (tiled - whole).abs()
    assert float(diff.max() / whole.abs().max()) < 1e-4, f"tiled differs from untiled by {float(diff.max()):.3g}"
    # a seam would be a jump at a tile edge: there the difference is no larger than anywhere else
    t = grid.tile
    rows = {4 * r for r in grid.rows[1:]} | {4 * (r + t) - 1 for r in grid.rows[:-1]}
    cols = {4 * c for c in grid.cols[1:]} | {4 * (c + t) - 1 for c in grid.cols[:-1]}
    at_edges = max([float(diff[:, r].max()) for r in rows] + [float(diff[..., c].max()) for c in cols])
    assert at_edges <= 1e-4 * float(whole.abs().max())


def test_too_small_an_overlap_warns_that_seams_may_show(sr_checkpoint: Path) -> None:
    predictor = ge.load_predictor(sr_checkpoint, device="cpu")
    with pytest.warns(UserWarning, match="seams may show"):
        predictor(torch.rand(4, 40, 40), tile=16, overlap=2)


def test_tile_layout_covers_the_image_with_at_least_the_overlap() -> None:
    for length, tile, overlap in [(100, 32, 8), (33, 32, 8), (32, 32, 8), (1000, 512, 40), (10, 32, 4)]:
        starts = tile_starts(length, min(tile, length), overlap)
        t = min(tile, length)
        assert starts[0] == 0 and starts[-1] + t == length
        assert all(b - a <= t - overlap for a, b in itertools.pairwise(starts))
    grid = TileGrid(40, 40, 16, 8, scale=2, margin=3)
    total = torch.zeros(80, 80)
    for top, left, h, w in grid.boxes():
        total[top * 2:(top + h) * 2, left * 2:(left + w) * 2] += grid.window(top, left, h, w)
    assert float(total.min()) > 0  # every output pixel gets weight from some tile


def test_inpainting_predicts_from_image_and_mask_and_keeps_the_known_pixels(tmp_path: Path) -> None:
    cfg = ge.load_config(CONFIGS / "inpainting.yaml", overrides=[
        "Data.size=16", "Generator.base_channels=8", "Generator.depth=2", "Discriminator.base_channels=8",
        "Training.max_steps=2", "Training.pretrain_steps=1", "Data.train_size=8", "Data.val_size=4",
        "Data.batch_size=4", "Data.val_batch_size=4", f"Project.output_dir={tmp_path / 'runs'}",
        "Trainer.enable_progress_bar=false"])
    result = ge.fit(cfg)
    predictor = ge.load_predictor(result.last_checkpoint, device="cpu")  # type: ignore[arg-type]
    image, mask = torch.rand(3, 16, 16), torch.zeros(1, 16, 16)
    mask[:, 4:9, 5:12] = 1
    out = predictor(image, mask=mask)
    assert out.shape == (3, 16, 16)
    known = mask.expand_as(image) == 0
    torch.testing.assert_close(out[known], image[known], atol=1e-5, rtol=0)
    with pytest.raises(ge.GanEngineError, match="mask="):
        predictor(image)


def test_synthesis_samples_with_labels(tmp_path: Path) -> None:
    cfg = ge.load_config(CONFIGS / "synthesis.yaml", overrides=[
        "Data.size=16", "Generator.image_size=16", "Generator.base_channels=8", "Discriminator.base_channels=8",
        "Discriminator.n_layers=2", "Task.num_classes=2", "Training.max_steps=2", "Data.train_size=8",
        "Data.val_size=4", "Data.batch_size=4", "Data.val_batch_size=4", f"Project.output_dir={tmp_path / 'runs'}",
        "Trainer.enable_progress_bar=false"])
    result = ge.fit(cfg)
    predictor = ge.load_predictor(result.last_checkpoint, device="cpu")  # type: ignore[arg-type]
    a, b = predictor.sample(3, labels=[0, 1, 1], seed=1), predictor.sample(3, labels=[0, 1, 1], seed=1)
    assert a.shape == (3, 3, 16, 16) and torch.equal(a, b)
    with pytest.raises(ge.GanEngineError, match="sample"):
        predictor(torch.rand(3, 16, 16))


def test_bf16_autocast_stays_close_to_float32_and_returns_float32(sr_checkpoint: Path) -> None:
    full = ge.load_predictor(sr_checkpoint, device="cpu")
    half = ge.load_predictor(sr_checkpoint, device="cpu", precision="bf16")
    x = torch.rand(4, 16, 16) * 3000
    a, b = full(x), half(x)
    assert b.dtype == torch.float32
    assert float((a - b).abs().max() / a.abs().max()) < 0.05
    with pytest.raises(ge.GanEngineError, match="precision must be"):
        ge.load_predictor(sr_checkpoint, device="cpu", precision="fp8")


def test_a_safetensors_export_loads_as_the_same_predictor(sr_checkpoint: Path, tmp_path: Path) -> None:
    exported = ge.export(sr_checkpoint, tmp_path / "model.safetensors", format="safetensors")
    x = torch.rand(4, 12, 12) * 3000
    torch.testing.assert_close(ge.load_predictor(exported, device="cpu")(x),
                               ge.load_predictor(sr_checkpoint, device="cpu")(x))
