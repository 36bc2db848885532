"""Notebook helpers (from_tensors, from_datasets) and the embedded data of each task."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

import gan_engine as ge
import gan_engine.data as ged
from gan_engine.errors import ShapeError
from gan_engine.registry import datamodules


def _first(dm: object, split: str = "train") -> dict[str, torch.Tensor]:
    batch = next(iter(getattr(dm, f"{split}_dataloader")()))
    return dm.on_after_batch_transfer(batch, 0)  # type: ignore[attr-defined,no-any-return]


def test_from_tensors_makes_lr_from_hr_and_holds_out_validation() -> None:
    hr = torch.rand(20, 4, 32, 32)
    dm = ged.from_tensors(hr=hr, scale=4, val_fraction=0.25, batch_size=5)
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set)) == (15, 5)
    batch = _first(dm)
    assert batch["lr"].shape == (5, 4, 8, 8)
    torch.testing.assert_close(batch["lr"], F.interpolate(batch["hr"], scale_factor=0.25, mode="bicubic",
                                                          antialias=True))


def test_from_tensors_crops_pairs_aligned() -> None:
    hr = torch.rand(8, 2, 32, 32)
    lr = F.avg_pool2d(hr, 2)
    dm = ged.from_tensors(lr=lr, hr=hr, crop_size=8, augment=True, val_fraction=0.0, batch_size=4)
    batch = _first(dm)
    assert batch["lr"].shape == (4, 2, 8, 8) and batch["hr"].shape == (4, 2, 16, 16)
    torch.testing.assert_close(F.avg_pool2d(batch["hr"], 2), batch["lr"])


def test_from_tensors_rejects_mismatched_sample_counts() -> None:
    with pytest.raises(ShapeError, match=r"same number of samples .*'lr': 4, 'hr': 5"):
        ged.from_tensors(lr=torch.rand(4, 1, 8, 8), hr=torch.rand(5, 1, 16, 16))


def test_from_datasets_passes_items_through() -> None:
    train = TensorDataset(torch.rand(6, 1, 4, 4), torch.rand(6, 1, 8, 8))
    dm = ged.from_datasets(train, train, batch_size=3)
    lr, hr = next(iter(dm.train_dataloader()))
    assert lr.shape == (3, 1, 4, 4) and hr.shape == (3, 1, 8, 8)
    assert len(dm.test_dataloader().dataset) == 6  # the validation set stands in for a missing test set


def test_synthetic_i2i_pairs_pan_and_low_resolution_hints() -> None:
    dm = datamodules.build("synthetic_i2i", bands=4, in_bands=3, size=16, train_size=8, val_size=4, batch_size=4)
    dm.setup()
    batch = _first(dm, "val")
    assert batch["cond"].shape == (4, 3, 16, 16) and batch["image"].shape == (4, 4, 16, 16)
    pan = torch.einsum("b,nbhw->nhw", dm.pan_weights, batch["image"]).clamp(0, 1) ** 0.8
    torch.testing.assert_close(batch["cond"][:, 0], pan)  # A is a fixed function of B, shared by both splits
    hints = F.interpolate(F.avg_pool2d(batch["image"][:, :2], 4), size=(16, 16), mode="bilinear")
    torch.testing.assert_close(batch["cond"][:, 1:], hints)  # B's first bands at 1/4 resolution
    again = datamodules.build("synthetic_i2i", bands=4, in_bands=3, size=16, train_size=8, val_size=4, batch_size=4)
    again.setup()
    torch.testing.assert_close(_first(again, "val")["image"], batch["image"])
    with pytest.raises(ge.ConfigError, match=r"1 ≤ in_bands ≤ bands \+ 1 \(5\)"):
        datamodules.build("synthetic_i2i", bands=4, in_bands=6)


def test_synthetic_inpainting_masks_fixed_in_validation_random_in_training() -> None:
    dm = datamodules.build("synthetic_inpainting", size=16, train_size=4, val_size=4, batch_size=4, mask="strokes")
    dm.setup()
    v1, v2 = _first(dm, "val"), _first(dm, "val")
    assert v1["mask"].shape == (4, 1, 16, 16) and torch.equal(v1["mask"], v2["mask"])
    assert not torch.equal(dm.train_set[0]["mask"], dm.train_set[0]["mask"])


def test_synthetic_synthesis_labels_change_the_palette() -> None:
    dm = datamodules.build("synthetic_synthesis", num_classes=3, size=16, train_size=30, val_size=6, batch_size=6)
    dm.setup()
    batch = _first(dm, "val")
    assert batch["label"].dtype == torch.int64 and set(batch["label"].tolist()) == {0, 1, 2}
    data = dm.make(60, 0)
    means = torch.stack([data["image"][data["label"] == c].mean(dim=(0, 2, 3)) for c in range(3)])
    assert float((means[0] - means[1]).abs().max()) > 0.05
    plain = datamodules.build("synthetic_synthesis", size=16, train_size=4, val_size=4, batch_size=4)
    plain.setup()
    assert set(_first(plain)) == {"image"}


def test_helpers_and_modules_load_lazily() -> None:
    assert {"synthetic_i2i", "synthetic_inpainting", "synthetic_synthesis", "image_folder",
            "paired_folder"} <= set(datamodules.names())
    with pytest.raises(AttributeError, match="no attribute 'from_arrays'"):
        ged.from_arrays  # noqa: B018
