"""image_folder and paired_folder: batches, aligned crops, determinism, and bad data caught at setup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gan_engine.data.image_folder import ImageFolderDataModule
from gan_engine.errors import ConfigError, DataError, RegistryError
from gan_engine.registry import datamodules


def _scene(rng: np.random.Generator, bands: int, h: int, w: int) -> np.ndarray:
    return rng.random((bands, h, w)).astype(np.float32)


def _pngs(folder: Path, n: int, h: int = 40, w: int = 48, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"img{i:02d}.png")


def _batch(dm: Any, split: str = "train") -> dict[str, torch.Tensor]:
    batch = next(iter(getattr(dm, f"{split}_dataloader")()))
    return dm.on_after_batch_transfer(batch, 0)  # type: ignore[no-any-return]


def test_image_folder_sr_batches(tmp_path: Path) -> None:
    _pngs(tmp_path, 6)
    dm = datamodules.build("image_folder", root=str(tmp_path), bands=3, scale=4, hr_size=32, batch_size=3)
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set)) == (5, 1)
    batch = _batch(dm)
    assert set(batch) == {"hr", "lr"}
    assert batch["hr"].shape == (3, 3, 32, 32) and batch["lr"].shape == (3, 3, 8, 8)
    assert 0.0 <= float(batch["hr"].min()) and float(batch["hr"].max()) <= 1.0  # 8-bit scaled by 255


def test_image_folder_plain_lr_is_antialiased_bicubic(tmp_path: Path) -> None:
    _pngs(tmp_path, 3)
    dm = datamodules.build("image_folder", root=str(tmp_path), scale=2, hr_size=32, batch_size=2, augment=False)
    dm.setup()
    batch = _batch(dm, "val")
    expected = F.interpolate(batch["hr"], scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)
    torch.testing.assert_close(batch["lr"], expected)


def test_image_folder_uses_train_val_subfolders(tmp_path: Path) -> None:
    _pngs(tmp_path / "train", 4)
    _pngs(tmp_path / "val", 2, seed=1)
    _pngs(tmp_path / "test", 3, seed=2)
    dm = datamodules.build("image_folder", root=str(tmp_path), scale=2, hr_size=16, crops_per_image=3)
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (12, 2, 3)


def test_image_folder_validation_is_deterministic_with_random_degradation(tmp_path: Path) -> None:
    _pngs(tmp_path, 5)
    kw = dict(root=str(tmp_path), scale=2, hr_size=32, val_fraction=0.4, batch_size=2,
              degradation={"blur_sigma": [0.5, 2.0], "anisotropic": True, "noise_std": [0.01, 0.05]})
    first, second = datamodules.build("image_folder", **kw), datamodules.build("image_folder", **kw)
    first.setup(), second.setup()
    a, b = _batch(first, "val"), _batch(second, "val")
    torch.testing.assert_close(a["lr"], b["lr"])
    L.seed_everything(1, verbose=False)
    train_a = _batch(first)
    L.seed_everything(2, verbose=False)
    train_b = _batch(first)
    assert not torch.equal(train_a["hr"], train_b["hr"])  # Project.seed changes the training crops and flips


def test_image_folder_inpainting_and_images_modes(tmp_path: Path) -> None:
    _pngs(tmp_path, 4)
    inp = datamodules.build("image_folder", root=str(tmp_path), mode="inpainting", hr_size=24, mask="boxes",
                           batch_size=2)
    inp.setup()
    batch = _batch(inp)
    assert set(batch) == {"image", "mask"} and batch["mask"].shape[1:] == (1, 24, 24)
    assert set(batch["mask"].unique().tolist()) <= {0.0, 1.0} and float(batch["mask"].sum()) > 0
    img = datamodules.build("image_folder", root=str(tmp_path), mode="images", hr_size=24, batch_size=2)
    img.setup()
    assert set(_batch(img)) == {"image"}


def test_band_stacks_with_band_indices_and_value_scale(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(3):
        np.save(tmp_path / f"s{i}.npy", (rng.random((6, 20, 20)) * 10000).astype(np.uint16))
    dm = datamodules.build("image_folder", root=str(tmp_path), bands=2, band_indices=[5, 1], value_scale=10000.0,
                           scale=2, hr_size=20, augment=False, val_fraction=0.0)
    dm.setup()
    item = dm.train_set[0]
    raw = np.load(sorted(tmp_path.glob("*.npy"))[0])
    np.testing.assert_allclose(item["hr"].numpy(), raw[[5, 1]] / 10000.0, rtol=1e-6)


def test_wrong_band_count_names_every_file(tmp_path: Path) -> None:
    _pngs(tmp_path, 3)
    dm = datamodules.build("image_folder", root=str(tmp_path), bands=4, hr_size=16)
    with pytest.raises(DataError) as err:
        dm.setup()
    msg = str(err.value)
    assert "3 problems" in msg and "img00.png: has 3 bands but the configuration expects 4 (Data.bands)" in msg
    assert "img02.png" in msg


def test_too_small_and_unreadable_files_fail_before_training(tmp_path: Path) -> None:
    _pngs(tmp_path, 3)
    _pngs(tmp_path / "small", 1, h=12, w=40)
    (tmp_path / "zz_broken.jpg").write_bytes(b"\xff\xd8 truncated")
    dm = datamodules.build("image_folder", root=str(tmp_path), hr_size=32, val_fraction=0.0)
    with pytest.raises(DataError) as err:
        dm.setup()
    msg = str(err.value)
    assert "small/img00.png: is 12×40 pixels, smaller than the 32×32 training crop" in msg
    assert "zz_broken.jpg: cannot open the file" in msg


def test_nan_fails_at_setup_unless_nodata_is_declared(tmp_path: Path) -> None:
    for i in range(3):
        stack = _scene(np.random.default_rng(i), 2, 16, 16)
        stack[:, :4, :4] = np.nan if i == 1 else stack[:, :4, :4]
        np.save(tmp_path / f"t{i}.npy", stack)
    dm = datamodules.build("image_folder", root=str(tmp_path), bands=2, scale=2, hr_size=16, val_fraction=0.0)
    with pytest.raises(DataError, match=r"t1\.npy: 16 pixels hold NaN values; declare them missing with "
                                        r"'Data\.nodata: \.nan'"):
        dm.setup()
    masked = datamodules.build("image_folder", root=str(tmp_path), bands=2, scale=2, hr_size=16, val_fraction=0.0,
                               nodata=float("nan"), augment=False)
    masked.setup()
    item = masked.train_set[1]
    assert item["valid"].shape == (1, 16, 16) and float(item["valid"].sum()) == 16 * 16 - 16
    assert torch.isfinite(item["hr"]).all() and float(item["hr"][:, :4, :4].abs().sum()) == 0.0


def test_header_only_check_still_catches_nan_on_load(tmp_path: Path) -> None:
    stack = np.full((1, 16, 16), np.nan, dtype=np.float32)
    np.save(tmp_path / "bad.npy", stack)
    np.save(tmp_path / "good.npy", np.zeros_like(stack))
    dm = datamodules.build("image_folder", root=str(tmp_path), bands=1, scale=2, hr_size=16, check="headers",
                           val_fraction=0.0)
    dm.setup()
    with pytest.raises(DataError, match=r"bad\.npy: 256 pixels hold NaN"):
        [dm.train_set[i] for i in range(2)]


def test_bad_parameters_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"image_folder'?: hr_size: is 30; it must be a multiple of scale \(4\)"):
        datamodules.build("image_folder", root=str(tmp_path), hr_size=30, scale=4)
    with pytest.raises(ConfigError, match=r"Data\.hr_size: is 30; it must be a positive multiple of the scale \(4\)"):
        ImageFolderDataModule(root=str(tmp_path), hr_size=30, scale=4)
    with pytest.raises(ConfigError, match=r"Data\.band_indices: picks 2 bands but Data\.bands is 3"):
        datamodules.build("image_folder", root=str(tmp_path), band_indices=[0, 1])
    with pytest.raises(ConfigError, match=r"Data\.degradation\.blurr: .*it accepts: scale, resample"):
        datamodules.build("image_folder", root=str(tmp_path), degradation={"blurr": 1})
    with pytest.raises(DataError, match=r"no such folder; check Data\.root"):
        datamodules.build("image_folder", root=str(tmp_path / "missing")).setup()


# -- paired_folder ---------------------------------------------------------------------

def _pairs(root: Path, n: int, scale: int, lr_size: int = 12, bands: int = 3, in_bands: int | None = None,
           layout: tuple[str, str] = ("LR", "HR"), split: str = "train") -> None:
    """HR stacks and their exact block-mean LR, so alignment can be checked."""
    (root / split / layout[0]).mkdir(parents=True, exist_ok=True)
    (root / split / layout[1]).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(split))
    for i in range(n):
        hr = _scene(rng, bands, lr_size * scale, lr_size * scale)
        lr = hr.reshape(bands, lr_size, scale, lr_size, scale).mean(axis=(2, 4))
        if in_bands is not None:
            lr = lr[:in_bands]
        np.save(root / split / layout[0] / f"p{i}.npy", lr)
        np.save(root / split / layout[1] / f"p{i}.npy", hr)


def test_paired_crops_stay_aligned_through_flips_and_rotations(tmp_path: Path) -> None:
    _pairs(tmp_path, 4, scale=4, lr_size=12)
    dm = datamodules.build("paired_folder", root=str(tmp_path), scale=4, hr_size=24, batch_size=3,
                           val_fraction=0.25)
    dm.setup()
    for _ in range(3):
        batch = _batch(dm)
        assert batch["lr"].shape == (3, 3, 6, 6) and batch["hr"].shape == (3, 3, 24, 24)
        torch.testing.assert_close(F.avg_pool2d(batch["hr"], 4), batch["lr"])


def test_paired_validation_split_and_test(tmp_path: Path) -> None:
    _pairs(tmp_path, 3, scale=2)
    _pairs(tmp_path, 2, scale=2, split="val")
    _pairs(tmp_path, 1, scale=2, split="test")
    dm = datamodules.build("paired_folder", root=str(tmp_path), scale=2, hr_size=16)
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (3, 2, 1)
    v1, v2 = _batch(dm, "val"), _batch(dm, "val")
    torch.testing.assert_close(v1["hr"], v2["hr"])
    torch.testing.assert_close(F.avg_pool2d(v1["hr"], 2), v1["lr"])


def test_paired_size_mismatch_and_unmatched_names(tmp_path: Path) -> None:
    _pairs(tmp_path, 3, scale=2)
    np.save(tmp_path / "train" / "HR" / "p1.npy", np.zeros((3, 20, 24), np.float32))
    np.save(tmp_path / "train" / "LR" / "orphan.npy", np.zeros((3, 12, 12), np.float32))
    dm = datamodules.build("paired_folder", root=str(tmp_path), scale=2, hr_size=16)
    with pytest.raises(DataError) as err:
        dm.setup()
    msg = str(err.value)
    assert "HR/p1.npy: is 20×24 but its input p1.npy is 12×12; with scale 2 it must be 24×24" in msg
    assert "LR/orphan.npy: has no partner in" in msg


def test_a_b_layout_with_different_band_counts(tmp_path: Path) -> None:
    _pairs(tmp_path, 3, scale=1, lr_size=20, bands=4, in_bands=2, layout=("A", "B"))
    dm = datamodules.build("paired_folder", root=str(tmp_path), bands=4, in_bands=2, hr_size=16, batch_size=2)
    dm.setup()
    batch = _batch(dm)
    assert set(batch) == {"cond", "image"}
    assert batch["cond"].shape == (2, 2, 16, 16) and batch["image"].shape == (2, 4, 16, 16)
    torch.testing.assert_close(batch["cond"], batch["image"][:, :2])  # same crop and flip on both sides
    wrong = datamodules.build("paired_folder", root=str(tmp_path), bands=4, hr_size=16)
    with pytest.raises(DataError, match=r"A/p0\.npy: has 2 bands but the configuration expects 4"):
        wrong.setup()


def test_paired_folder_needs_a_train_split(tmp_path: Path) -> None:
    (tmp_path / "LR").mkdir()
    with pytest.raises(DataError, match=r"expected a 'train' subfolder"):
        datamodules.build("paired_folder", root=str(tmp_path)).setup()


def test_workers_load_folder_data(tmp_path: Path) -> None:
    _pngs(tmp_path, 4)
    dm = datamodules.build("image_folder", root=str(tmp_path), scale=2, hr_size=16, batch_size=2, num_workers=1,
                           persistent_workers=True, pin_memory=False)
    dm.setup()
    loader = dm.train_dataloader()
    assert loader.persistent_workers and loader.num_workers == 1
    assert _batch(dm)["lr"].shape == (2, 3, 8, 8)


def test_mixed_formats_in_one_folder_share_one_value_range(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "b.tif")
    np.savez(tmp_path / "c.npz", image=np.moveaxis(rgb, -1, 0).astype(np.float32) / 255)
    grey16 = (rng.random((20, 20)) * 65535).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "d16.png")
    dm = datamodules.build("image_folder", root=str(tmp_path), bands=3, scale=2, hr_size=20, augment=False,
                           val_fraction=0.0, check="full")
    with pytest.raises(DataError, match=r"d16\.png: has 1 band but the configuration expects 3"):
        dm.setup()
    (tmp_path / "d16.png").unlink()
    dm = datamodules.build("image_folder", root=str(tmp_path), bands=3, scale=2, hr_size=20, augment=False,
                           val_fraction=0.0)
    dm.setup()
    items = [dm.train_set[i]["hr"] for i in range(3)]
    for item in items[1:]:
        torch.testing.assert_close(item, items[0])  # PNG, TIFF and a float .npz stack read alike


def _epoch(dm: Any) -> list[dict[str, torch.Tensor]]:
    return [dm.on_after_batch_transfer(b, 0) for b in dm.train_dataloader()]


@pytest.mark.parametrize("name", ["image_folder", "paired_folder"])
def test_the_image_cache_decodes_each_file_once_and_changes_no_batch(tmp_path: Path, name: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import gan_engine.data.folders as folders

    if name == "image_folder":
        _pngs(tmp_path, 4, h=48, w=48)
        kwargs: dict[str, Any] = {"degradation": {"name": "second_order", "jpeg_prob": 0.0, "jpeg_prob2": 0.0}}
    else:
        _pairs(tmp_path, 4, scale=4, lr_size=12)
        kwargs = {"val_fraction": 0.25}
    reads: list[Path] = []
    load = folders.load_tensor

    def counting(path: Path, *args: Any) -> Any:
        reads.append(path)
        return load(path, *args)

    monkeypatch.setattr(folders, "load_tensor", counting)

    def fit_epochs(cache_mib: int) -> tuple[list[dict[str, torch.Tensor]], int]:
        reads.clear()
        dm = datamodules.build(name, root=str(tmp_path), scale=4, hr_size=16, batch_size=3, crops_per_image=3,
                               cache_mib=cache_mib, **kwargs)
        dm.setup()
        batches = []
        for epoch in range(2):
            loader = dm.train_dataloader()
            loader.sampler.set_epoch(epoch)  # type: ignore[union-attr]
            batches += [dm.on_after_batch_transfer(b, 0) for b in loader]
        return batches, len(reads)

    plain, plain_reads = fit_epochs(0)
    cached, cached_reads = fit_epochs(64)
    files = len({p for p in reads})
    assert plain_reads == 2 * 3 * files  # two epochs of three crops per image, each one decoded
    assert cached_reads == files  # every file decoded once, then sliced from memory
    assert len(plain) == len(cached) > 0
    for a, b in zip(plain, cached):  # flips, crops and degradations land on the same pixels
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key


def test_the_cache_keeps_to_its_budget_and_leaves_the_decoded_images_untouched(tmp_path: Path) -> None:
    import pickle

    from gan_engine.data.files import load_tensor

    _pngs(tmp_path, 3, h=512, w=512)
    image_bytes = 3 * 512 * 512 * 4  # 3 MiB decoded
    for cache_mib, kept in ((10, 3), (7, 2), (0, 0)):
        dm = datamodules.build("image_folder", root=str(tmp_path), scale=4, hr_size=16, batch_size=2,
                               cache_mib=cache_mib, val_fraction=0.0, crops_per_image=4)
        dm.setup()
        _epoch(dm)
        loader = dm.train_set.load
        assert len(loader._cache) == kept and loader._cached == kept * image_bytes <= cache_mib << 20
    dm = datamodules.build("image_folder", root=str(tmp_path), scale=4, hr_size=16, batch_size=2, cache_mib=10,
                           val_fraction=0.0, crops_per_image=4)
    dm.setup()
    _epoch(dm)
    loader = dm.train_set.load
    for index, item in loader._cache.items():  # crops are copies: flips never wrote through
        assert torch.equal(item["hr"], load_tensor(loader.records[index]["hr"], loader.options["hr"], None)[0])
        assert dm.train_set[index]["hr"].untyped_storage().nbytes() == 3 * 16 * 16 * 4
    assert pickle.loads(pickle.dumps(loader))._cache == {}  # a worker starts with an empty cache of its own
